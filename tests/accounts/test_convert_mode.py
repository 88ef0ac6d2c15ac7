from decimal import Decimal

import pytest

from accounts.exceptions import InvalidModeChange
from accounts.models import BillingAccount, CreditLimitScope, PaymentMode, PaymentModeChange
from accounts.services import account_convert_mode
from billing_site.exceptions import NotFound
from ledger.exceptions import InsufficientFunds
from ledger.models import Balance, Entry
from ledger.selectors import account_figures
from ledger.services import ledger_charge, ledger_receive_payment
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def _state(account):
    account = BillingAccount.objects.get(pk=account.pk)
    return (account.payment_mode, account.credit_limit, account.credit_limit_scope)


def _convert(account, mode, **kwargs):
    kwargs.setdefault("reason", "Client asked for it")
    return account_convert_mode(account_id=account.pk, payment_mode=mode, **kwargs)


@pytest.mark.parametrize("limit", [None, "0", "-10", "0.0000001", "abc"])
def test_converting_to_credit_limit_needs_a_positive_limit(limit):
    account = AccountFactory()

    with pytest.raises(InvalidModeChange) as refused:
        _convert(account, PaymentMode.CREDIT_LIMIT, credit_limit=limit)

    assert refused.value.field == "credit_limit"
    assert _state(account) == (PaymentMode.PREPAID, None, CreditLimitScope.TOTAL_DEBT)
    assert not PaymentModeChange.objects.exists()


def test_credit_limit_without_a_limit_is_refused_with_a_clear_message():
    account = AccountFactory()

    with pytest.raises(InvalidModeChange, match="needs a credit limit greater than zero"):
        _convert(account, PaymentMode.CREDIT_LIMIT)


def test_converting_to_credit_limit_grants_the_limit_at_once():
    account = AccountFactory(funds="5")

    _convert(
        account,
        PaymentMode.CREDIT_LIMIT,
        credit_limit="100",
        credit_limit_scope=CreditLimitScope.MONTHLY_UNBILLED,
    )

    assert _state(account) == (
        PaymentMode.CREDIT_LIMIT,
        Decimal("100"),
        CreditLimitScope.MONTHLY_UNBILLED,
    )
    assert account_figures(account).usable == Decimal("105")


def test_converting_back_to_prepaid_clears_the_limit_and_the_scope():
    account = AccountFactory(
        payment_mode=PaymentMode.CREDIT_LIMIT,
        credit_limit="100",
        credit_limit_scope=CreditLimitScope.MONTHLY_UNBILLED,
    )

    _convert(account, PaymentMode.PREPAID)

    assert _state(account) == (PaymentMode.PREPAID, None, CreditLimitScope.TOTAL_DEBT)
    assert account_figures(account).usable == Decimal(0)


def test_converting_credit_to_postpaid_clears_the_limit():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    _convert(account, PaymentMode.POSTPAID)

    assert _state(account) == (PaymentMode.POSTPAID, None, CreditLimitScope.TOTAL_DEBT)
    assert account_figures(account).usable is None


def test_disabling_postpaid_keeps_the_debt_and_refuses_spends_until_topped_up():
    account = AccountFactory(payment_mode=PaymentMode.POSTPAID)
    ledger_charge(account_id=account.pk, amount="30", idempotency_key="usage-1")

    _convert(account, PaymentMode.PREPAID, reason="Stopped paying on time")

    figures = account_figures(account)
    assert figures.balance == Decimal("-30")
    assert figures.usable == Decimal("-30")
    with pytest.raises(InsufficientFunds) as refused:
        ledger_charge(account_id=account.pk, amount="0.000001", idempotency_key="usage-2")
    assert refused.value.code == "insufficient_funds"
    assert refused.value.field == "amount"
    assert "prepaid" in refused.value.detail
    assert "topped up" in refused.value.detail
    assert Entry.objects.filter(account=account).count() == 1

    # Paying part of the debt is not enough: the balance is still negative.
    ledger_receive_payment(account_id=account.pk, amount="29.99", idempotency_key="pay-1")
    with pytest.raises(InsufficientFunds, match="topped up"):
        ledger_charge(account_id=account.pk, amount="0.01", idempotency_key="usage-3")

    # Once the balance covers the spend, prepaid spending resumes.
    ledger_receive_payment(account_id=account.pk, amount="5.01", idempotency_key="pay-2")
    booking = ledger_charge(account_id=account.pk, amount="5", idempotency_key="usage-4")
    assert booking.figures.balance == Decimal("0")
    with pytest.raises(InsufficientFunds):
        ledger_charge(account_id=account.pk, amount="0.000001", idempotency_key="usage-5")


def test_every_conversion_records_who_from_to_why_and_the_balance():
    staff = UserFactory(is_staff=True)
    account = AccountFactory(funds="12.5")

    _convert(
        account,
        PaymentMode.CREDIT_LIMIT,
        credit_limit="300",
        reason="Signed the credit agreement",
        changed_by=staff,
    )
    ledger_charge(account_id=account.pk, amount="20", idempotency_key="c1")
    _convert(account, PaymentMode.POSTPAID, reason="Moved to pay-as-you-go", changed_by=staff)

    first, second = PaymentModeChange.objects.filter(account=account).order_by("id")
    assert first.changed_by == staff
    assert (first.from_mode, first.to_mode) == (PaymentMode.PREPAID, PaymentMode.CREDIT_LIMIT)
    assert (first.from_credit_limit, first.to_credit_limit) == (None, Decimal("300"))
    assert (first.from_scope, first.to_scope) == ("total_debt", "total_debt")
    assert first.balance_at_change == Decimal("12.5")
    assert first.reason == "Signed the credit agreement"
    assert first.changed_at is not None
    assert (second.from_mode, second.to_mode) == (PaymentMode.CREDIT_LIMIT, PaymentMode.POSTPAID)
    assert (second.from_credit_limit, second.to_credit_limit) == (Decimal("300"), None)
    assert second.balance_at_change == Decimal("-7.5")
    assert second.reason == "Moved to pay-as-you-go"


def test_changing_only_the_limit_is_recorded_as_a_conversion():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    _convert(account, PaymentMode.CREDIT_LIMIT, credit_limit="150", reason="Raised limit")

    change = PaymentModeChange.objects.filter(account=account).latest("id")
    assert (change.from_credit_limit, change.to_credit_limit) == (Decimal("100"), Decimal("150"))
    assert account_figures(account).usable == Decimal("150")


@pytest.mark.parametrize(
    ("start", "convert_to"),
    [
        ({}, {"mode": PaymentMode.PREPAID}),
        ({"payment_mode": "postpaid"}, {"mode": PaymentMode.POSTPAID}),
        (
            {"payment_mode": "credit_limit", "credit_limit": "100"},
            {"mode": PaymentMode.CREDIT_LIMIT, "credit_limit": "100.000000"},
        ),
    ],
)
def test_a_conversion_that_changes_nothing_records_nothing(start, convert_to):
    account = AccountFactory(**start)
    history = PaymentModeChange.objects.filter(account=account).count()

    _convert(account, convert_to.pop("mode"), **convert_to)

    assert PaymentModeChange.objects.filter(account=account).count() == history


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_conversion_needs_a_reason(reason):
    account = AccountFactory()

    with pytest.raises(InvalidModeChange) as refused:
        _convert(account, PaymentMode.POSTPAID, reason=reason)

    assert refused.value.field == "reason"
    assert _state(account)[0] == PaymentMode.PREPAID
    assert not PaymentModeChange.objects.exists()


def test_an_unknown_mode_is_refused():
    account = AccountFactory()

    with pytest.raises(InvalidModeChange) as refused:
        _convert(account, "postpaid_with_credit")

    assert refused.value.field == "payment_mode"
    assert _state(account)[0] == PaymentMode.PREPAID
    assert not PaymentModeChange.objects.exists()


def test_an_unknown_scope_is_refused():
    account = AccountFactory()

    with pytest.raises(InvalidModeChange) as refused:
        _convert(account, PaymentMode.CREDIT_LIMIT, credit_limit="10", credit_limit_scope="week")

    assert refused.value.field == "credit_limit_scope"
    assert _state(account)[0] == PaymentMode.PREPAID


@pytest.mark.parametrize("mode", [PaymentMode.POSTPAID, PaymentMode.PREPAID])
def test_a_credit_limit_outside_credit_mode_is_refused(mode):
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    with pytest.raises(InvalidModeChange, match="only in credit_limit mode") as refused:
        _convert(account, mode, credit_limit="50")

    assert refused.value.field == "credit_limit"
    assert _state(account) == (PaymentMode.CREDIT_LIMIT, Decimal("100"), "total_debt")
    assert PaymentModeChange.objects.filter(account=account).count() == 1  # the creation


def test_converting_an_unknown_account_is_refused():
    with pytest.raises(NotFound):
        account_convert_mode(account_id=987654, payment_mode="postpaid", reason="x")


def test_a_conversion_moves_no_money():
    account = AccountFactory(funds="40")

    _convert(account, PaymentMode.CREDIT_LIMIT, credit_limit="10")
    _convert(account, PaymentMode.POSTPAID)
    _convert(account, PaymentMode.PREPAID)

    row = Balance.objects.get(account=account)
    assert (row.balance, row.entry_count) == (Decimal("40"), 1)
