from decimal import Decimal

import pytest

from accounts.models import (
    BillingAccount,
    CreditLimitScope,
    CreditStatus,
    PaymentMode,
    PaymentModeChange,
)
from accounts.services import account_create
from billing_site.exceptions import InvalidInput
from ledger.models import Balance
from ledger.selectors import account_figures
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_new_account_is_prepaid_with_a_zero_balance_row():
    account = account_create(name="Acme", email="billing@acme.example", currency="EUR")

    account = BillingAccount.objects.get(pk=account.pk)
    assert account.payment_mode == PaymentMode.PREPAID
    assert account.credit_limit is None
    assert account.credit_limit_scope == CreditLimitScope.TOTAL_DEBT
    assert account.credit_status == CreditStatus.ACTIVE
    assert account.payment_term_days == 14
    row = Balance.objects.get(account=account)
    assert (row.balance, row.unbilled, row.reserved, row.entry_count) == (0, 0, 0, 0)
    figures = account_figures(account)
    assert figures.usable == Decimal(0)
    assert figures.currency == "EUR"
    assert not PaymentModeChange.objects.filter(account=account).exists()


def test_account_created_in_credit_mode_records_who_granted_the_credit():
    staff = UserFactory(is_staff=True)

    account = account_create(
        name="Telco",
        email="ap@telco.example",
        currency="USD",
        payment_mode=PaymentMode.CREDIT_LIMIT,
        credit_limit="250",
        created_by=staff,
    )

    change = PaymentModeChange.objects.get(account=account)
    assert (change.from_mode, change.to_mode) == (PaymentMode.PREPAID, PaymentMode.CREDIT_LIMIT)
    assert change.to_credit_limit == Decimal("250")
    assert change.changed_by == staff
    assert account_figures(account).usable == Decimal("250")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"currency": "XXQ"}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"payment_mode": "credit_limit"}, "credit_limit"),
        ({"payment_mode": "credit_limit", "credit_limit": "0"}, "credit_limit"),
        ({"payment_mode": "postpaid", "credit_limit": "10"}, "credit_limit"),
        ({"payment_mode": "both"}, "payment_mode"),
        ({"payment_term_days": -1}, "payment_term_days"),
        ({"payment_term_days": 366}, "payment_term_days"),
        ({"payment_term_days": True}, "payment_term_days"),
    ],
)
def test_account_create_refuses_bad_input_and_creates_nothing(kwargs, field):
    arguments = {"name": "Acme", "email": "billing@acme.example", "currency": "USD", **kwargs}

    with pytest.raises(InvalidInput) as refused:
        account_create(**arguments)

    assert refused.value.field == field
    assert not BillingAccount.objects.exists()
    assert not Balance.objects.exists()


def test_a_new_account_takes_the_payment_term_from_the_system_settings():
    from accounts.services import account_create
    from approvals.services import settings_update

    settings_update(changed_by=None, default_payment_term_days=30)
    account = account_create(name="Termed", email="t@termed.example", currency="USD")
    assert account.payment_term_days == 30
    explicit = account_create(
        name="Own terms", email="o@termed.example", currency="USD", payment_term_days=7
    )
    assert explicit.payment_term_days == 7
