"""One rule decides every spend: what `usable` allows in the account's mode (docs/design.md §2)."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import CreditLimitScope, PaymentMode
from accounts.services import account_block_credit, account_unblock_credit
from billing_site.exceptions import InvalidInput, NotFound
from ledger.exceptions import CreditBlocked, InsufficientFunds
from ledger.models import Balance, Entry, EntryKind
from ledger.selectors import account_figures, usable_amount
from ledger.services import ledger_charge, ledger_receive_payment, ledger_reserve
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _charge(account, amount, key, **kwargs):
    return ledger_charge(account_id=account.pk, amount=amount, idempotency_key=key, **kwargs)


def _books(account):
    row = Balance.objects.get(account=account)
    return (row.balance, row.unbilled, row.reserved, row.entry_count)


# -- prepaid ----------------------------------------------------------------------------


def test_prepaid_spends_exactly_what_it_has():
    account = AccountFactory(funds="10")

    booking = _charge(account, "10", "c1")

    assert booking.figures.balance == Decimal("0")
    assert booking.figures.usable == Decimal("0")
    with pytest.raises(InsufficientFunds) as refused:
        _charge(account, "0.000001", "c2")
    assert refused.value.code == "insufficient_funds"
    assert refused.value.field == "amount"


def test_prepaid_refuses_a_charge_one_millionth_over_its_funds():
    account = AccountFactory(funds="10")

    with pytest.raises(InsufficientFunds, match=r"10\.000000 USD usable"):
        _charge(account, "10.000001", "c1")

    assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("0"), 1)


def test_prepaid_usable_is_balance_minus_reserved():
    account = AccountFactory(funds="10")
    ledger_reserve(account_id=account.pk, amount="4", idempotency_key="h1")

    assert account_figures(account).usable == Decimal("6")
    with pytest.raises(InsufficientFunds):
        _charge(account, "6.000001", "c1")
    _charge(account, "6", "c2")
    assert account_figures(account).usable == Decimal("0")


def test_new_prepaid_account_cannot_spend_anything():
    account = AccountFactory()

    with pytest.raises(InsufficientFunds):
        _charge(account, "0.000001", "c1")
    assert not Entry.objects.filter(account=account).exists()


# -- postpaid ---------------------------------------------------------------------------


def test_postpaid_spends_without_limit():
    account = AccountFactory(payment_mode=PaymentMode.POSTPAID)

    booking = _charge(account, "9999999.999999", "c1")
    _charge(account, "5000000", "c2")

    assert booking.figures.usable is None
    figures = account_figures(account)
    assert figures.usable is None
    assert figures.balance == Decimal("-14999999.999999")


# -- credit limit -----------------------------------------------------------------------


def test_credit_limit_accepts_a_charge_of_exactly_the_remaining_credit():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100", funds="5")
    _charge(account, "60.5", "c1")

    booking = _charge(account, "44.5", "c2")

    assert booking.figures.balance == Decimal("-100")
    assert booking.figures.usable == Decimal("0")


def test_credit_limit_refuses_charge_beyond_limit():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    _charge(account, "99.999999", "c1")

    with pytest.raises(InsufficientFunds, match=r"0\.000001 USD usable"):
        _charge(account, "0.000002", "c2")

    assert _books(account)[0] == Decimal("-99.999999")
    _charge(account, "0.000001", "c3")
    with pytest.raises(InsufficientFunds):
        _charge(account, "0.000001", "c4")
    assert _books(account)[0] == Decimal("-100")


def test_credit_limit_counts_holds_against_the_limit():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    ledger_reserve(account_id=account.pk, amount="30", idempotency_key="h1")

    assert account_figures(account).usable == Decimal("70")
    with pytest.raises(InsufficientFunds):
        _charge(account, "70.000001", "c1")


def test_credit_limit_total_debt_counts_the_whole_negative_balance():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    _charge(account, "80", "c1")
    ledger_receive_payment(account_id=account.pk, amount="30", idempotency_key="p1")

    # balance −50: half the limit is used, whether or not the charges were billed.
    assert account_figures(account).usable == Decimal("50")


def test_monthly_unbilled_scope_spends_the_limit_plus_money_paid_in_ahead():
    account = AccountFactory(
        payment_mode=PaymentMode.CREDIT_LIMIT,
        credit_limit="100",
        credit_limit_scope=CreditLimitScope.MONTHLY_UNBILLED,
        funds="20",
    )
    ledger_reserve(account_id=account.pk, amount="5", idempotency_key="h1")
    assert account_figures(account).usable == Decimal("115")

    _charge(account, "115", "c1")

    figures = account_figures(account)
    assert (figures.unbilled, figures.amount_due, figures.usable) == (
        Decimal("-115"),
        Decimal("20"),
        Decimal("0"),
    )
    with pytest.raises(InsufficientFunds):
        _charge(account, "0.000001", "c2")


@pytest.mark.parametrize(
    ("balance", "unbilled", "reserved", "usable"),
    [
        # limit + unbilled + max(amount_due, 0) − reserved, with limit 100:
        ("0", "0", "0", "100"),
        ("-30", "-30", "0", "70"),
        ("-30", "-30", "10", "60"),
        # Billed debt (amount_due −120) is left to due dates and overdue blocking.
        ("-150", "-30", "10", "60"),
        # Money paid in ahead (amount_due +25) is spendable on top of the limit.
        ("-5", "-30", "0", "95"),
        ("-130", "-130", "0", "-30"),
    ],
)
def test_monthly_unbilled_usable_formula(balance, unbilled, reserved, usable):
    account = AccountFactory(
        payment_mode=PaymentMode.CREDIT_LIMIT,
        credit_limit="100",
        credit_limit_scope=CreditLimitScope.MONTHLY_UNBILLED,
    )

    result = usable_amount(
        account, balance=Decimal(balance), unbilled=Decimal(unbilled), reserved=Decimal(reserved)
    )

    assert result == Decimal(usable)


def test_total_debt_usable_formula_counts_billed_debt_too():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    result = usable_amount(
        account, balance=Decimal("-150"), unbilled=Decimal("-30"), reserved=Decimal("10")
    )

    assert result == Decimal("-60")


@pytest.mark.parametrize(
    ("funds", "spent", "usable"),
    [("0", "0", "0"), ("7", "0", "7"), ("7", "10", "0"), ("7", "3", "4")],
)
def test_blocked_credit_usable_is_the_positive_balance_only(funds, spent, usable):
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100", funds=funds)
    if Decimal(spent):
        _charge(account, spent, "before-block")

    account_block_credit(account_id=account.pk, reason="overdue")

    assert account_figures(account).usable == Decimal(usable)


def test_blocked_credit_refuses_spends_with_credit_blocked():
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100", funds="3")
    ledger_reserve(account_id=account.pk, amount="1", idempotency_key="h1")
    account_block_credit(account_id=account.pk, reason="overdue")

    with pytest.raises(CreditBlocked) as refused:
        _charge(account, "2.000001", "c1")
    assert refused.value.code == "credit_blocked"
    assert refused.value.field == "amount"
    assert "blocked" in refused.value.detail
    with pytest.raises(CreditBlocked):
        ledger_reserve(account_id=account.pk, amount="2.000001", idempotency_key="h2")

    _charge(account, "2", "c2")
    assert _books(account)[0] == Decimal("1")

    account_unblock_credit(account_id=account.pk, reason="paid")
    _charge(account, "100", "c3")
    assert _books(account)[0] == Decimal("-99")


# -- what gets written ------------------------------------------------------------------


def test_a_charge_books_one_negative_entry_and_moves_the_balance_row():
    account = AccountFactory(funds="50")

    booking = _charge(
        account,
        "12.345678",
        "usage-2026-01",
        kind=EntryKind.USAGE,
        description="Calls, January",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
    )

    entry = Entry.objects.get(pk=booking.entry.pk)
    assert entry.amount == Decimal("-12.345678")
    assert entry.kind == EntryKind.USAGE
    assert entry.idempotency_key == "usage-2026-01"
    assert (entry.period_start, entry.period_end) == (date(2026, 1, 1), date(2026, 1, 31))
    assert _books(account) == (Decimal("37.654322"), Decimal("-12.345678"), Decimal("0"), 2)
    assert booking.replayed is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": EntryKind.PAYMENT}, "kind"),
        ({"kind": EntryKind.ADJUSTMENT}, "kind"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "   "}, "idempotency_key"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"period_start": date(2026, 2, 1), "period_end": date(2026, 1, 1)}, "period_end"),
    ],
)
def test_a_malformed_charge_is_refused_and_writes_nothing(kwargs, field):
    account = AccountFactory(funds="50")
    arguments = {"account_id": account.pk, "amount": "1", "idempotency_key": "c1", **kwargs}

    with pytest.raises(InvalidInput) as refused:
        ledger_charge(**arguments)

    assert refused.value.field == field
    assert _books(account) == (Decimal("50"), Decimal("0"), Decimal("0"), 1)


def test_charging_an_unknown_account_is_refused():
    with pytest.raises(NotFound):
        ledger_charge(account_id=999999, amount="1", idempotency_key="c1")
