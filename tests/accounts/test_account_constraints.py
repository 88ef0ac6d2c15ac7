"""The database itself refuses an account whose mode and limit disagree (docs/design.md §1).

These go straight to `QuerySet.update()`, past every service, as a bad migration or a
shell session would.
"""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import BillingAccount, PaymentMode
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _refused_update(account, **fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        BillingAccount.objects.filter(pk=account.pk).update(**fields)


@pytest.mark.parametrize("mode", [PaymentMode.PREPAID, PaymentMode.POSTPAID])
def test_database_refuses_a_credit_limit_outside_credit_limit_mode(mode):
    account = AccountFactory(payment_mode=mode)

    _refused_update(account, credit_limit=Decimal("10"))

    assert BillingAccount.objects.get(pk=account.pk).credit_limit is None


@pytest.mark.parametrize("limit", [None, Decimal("0"), Decimal("-5")])
def test_database_refuses_credit_limit_mode_without_a_positive_limit(limit):
    account = AccountFactory()

    _refused_update(account, payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit=limit)

    assert BillingAccount.objects.get(pk=account.pk).payment_mode == PaymentMode.PREPAID


def test_database_refuses_clearing_the_limit_of_a_credit_account():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    _refused_update(account, credit_limit=None)

    assert BillingAccount.objects.get(pk=account.pk).credit_limit == Decimal("100")


def test_database_refuses_leaving_credit_mode_without_dropping_the_limit():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    _refused_update(account, payment_mode=PaymentMode.POSTPAID)

    assert BillingAccount.objects.get(pk=account.pk).payment_mode == PaymentMode.CREDIT_LIMIT


@pytest.mark.parametrize(
    "fields",
    [
        {"payment_mode": "postpaid_and_credit"},
        {"credit_status": "frozen"},
        {"credit_limit_scope": "weekly"},
    ],
)
def test_database_refuses_unknown_modes_statuses_and_scopes(fields):
    account = AccountFactory()

    _refused_update(account, **fields)

    account = BillingAccount.objects.get(pk=account.pk)
    assert account.payment_mode == PaymentMode.PREPAID
    assert account.credit_status == "active"
    assert account.credit_limit_scope == "total_debt"


def test_database_accepts_a_consistent_credit_limit_row():
    account = AccountFactory()

    BillingAccount.objects.filter(pk=account.pk).update(
        payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit=Decimal("0.000001")
    )

    assert BillingAccount.objects.get(pk=account.pk).credit_limit == Decimal("0.000001")
