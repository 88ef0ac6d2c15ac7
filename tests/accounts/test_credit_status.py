from decimal import Decimal

import pytest

from accounts.models import AccountStateChange, BillingAccount, CreditStatus, PaymentMode
from accounts.services import account_block_credit, account_unblock_credit
from billing_site.exceptions import InvalidTransition
from ledger.exceptions import CreditBlocked
from ledger.selectors import account_figures
from ledger.services import ledger_charge
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def _status(account):
    return BillingAccount.objects.get(pk=account.pk).credit_status


def test_blocking_credit_records_who_from_to_and_why():
    staff = UserFactory(is_staff=True)
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    account_block_credit(account_id=account.pk, reason="Invoice 42 overdue", changed_by=staff)

    assert _status(account) == CreditStatus.BLOCKED
    change = AccountStateChange.objects.get(account=account)
    assert change.field == "credit_status"
    assert (change.from_state, change.to_state) == ("active", "blocked")
    assert change.changed_by == staff
    assert change.reason == "Invoice 42 overdue"
    assert change.changed_at is not None


def test_unblocking_credit_records_the_move_back():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    account_block_credit(account_id=account.pk, reason="overdue")

    account_unblock_credit(account_id=account.pk, reason="Paid")

    assert _status(account) == CreditStatus.ACTIVE
    back = AccountStateChange.objects.filter(account=account).latest("id")
    assert (back.from_state, back.to_state, back.reason) == ("blocked", "active", "Paid")
    assert account_figures(account).usable == Decimal("100")


def test_blocked_credit_spends_only_the_clients_own_funds():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100", funds="7")
    account_block_credit(account_id=account.pk, reason="overdue")

    assert account_figures(account).usable == Decimal("7")
    with pytest.raises(CreditBlocked) as refused:
        ledger_charge(account_id=account.pk, amount="7.000001", idempotency_key="c1")
    assert refused.value.code == "credit_blocked"
    ledger_charge(account_id=account.pk, amount="7", idempotency_key="c2")
    assert account_figures(account).usable == Decimal("0")


@pytest.mark.parametrize("start", [{}, {"payment_mode": "postpaid"}], ids=["prepaid", "postpaid"])
def test_blocking_a_non_credit_account_is_refused(start):
    account = AccountFactory(**start)

    with pytest.raises(InvalidTransition) as refused:
        account_block_credit(account_id=account.pk, reason="overdue")

    assert refused.value.field == "credit_status"
    assert _status(account) == CreditStatus.ACTIVE
    assert not AccountStateChange.objects.exists()


def test_blocking_twice_is_refused_and_records_once():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    account_block_credit(account_id=account.pk, reason="overdue")

    with pytest.raises(InvalidTransition):
        account_block_credit(account_id=account.pk, reason="overdue again")

    assert AccountStateChange.objects.filter(account=account).count() == 1


def test_unblocking_active_credit_is_refused():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    with pytest.raises(InvalidTransition, match="not blocked"):
        account_unblock_credit(account_id=account.pk, reason="no reason")

    assert not AccountStateChange.objects.exists()
