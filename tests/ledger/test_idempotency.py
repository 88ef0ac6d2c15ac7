"""Retrying with the same key returns the first result and books nothing twice."""

from decimal import Decimal

import pytest

from billing_site.exceptions import IdempotencyConflict
from ledger.exceptions import InsufficientFunds
from ledger.models import Balance, Entry, EntryKind, Reservation
from ledger.services import ledger_charge, ledger_receive_payment, ledger_reserve
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _books(account):
    row = Balance.objects.get(account=account)
    return (row.balance, row.unbilled, row.reserved, row.entry_count)


def test_charge_replay_returns_the_same_entry_and_books_nothing():
    account = AccountFactory(funds="10")
    first = ledger_charge(account_id=account.pk, amount="3", idempotency_key="order-77")
    books = _books(account)

    again = ledger_charge(account_id=account.pk, amount="3.000000", idempotency_key="order-77")

    assert again.replayed is True
    assert again.entry.pk == first.entry.pk
    assert again.figures == first.figures
    assert _books(account) == books
    assert Entry.objects.filter(account=account, idempotency_key="order-77").count() == 1


def test_charge_replay_succeeds_even_when_funds_ran_out_since():
    account = AccountFactory(funds="10")
    first = ledger_charge(account_id=account.pk, amount="10", idempotency_key="c1")

    again = ledger_charge(account_id=account.pk, amount="10", idempotency_key="c1")

    assert again.entry.pk == first.entry.pk
    assert _books(account)[0] == Decimal("0")


def test_a_refused_charge_does_not_burn_its_key():
    account = AccountFactory(funds="1")
    with pytest.raises(InsufficientFunds):
        ledger_charge(account_id=account.pk, amount="5", idempotency_key="c1")
    ledger_receive_payment(account_id=account.pk, amount="4", idempotency_key="p1")

    booking = ledger_charge(account_id=account.pk, amount="5", idempotency_key="c1")

    assert booking.replayed is False
    assert _books(account)[0] == Decimal("0")


@pytest.mark.parametrize(
    ("amount", "kind"),
    [("3.000001", EntryKind.CHARGE), ("4", EntryKind.CHARGE), ("3", EntryKind.USAGE)],
)
def test_same_key_with_a_different_charge_is_an_idempotency_conflict(amount, kind):
    account = AccountFactory(funds="10")
    ledger_charge(account_id=account.pk, amount="3", idempotency_key="order-77")
    books = _books(account)

    with pytest.raises(IdempotencyConflict) as refused:
        ledger_charge(account_id=account.pk, amount=amount, idempotency_key="order-77", kind=kind)

    assert refused.value.code == "idempotency_conflict"
    assert refused.value.field == "idempotency_key"
    assert _books(account) == books


def test_a_payment_key_cannot_be_reused_for_a_charge():
    account = AccountFactory()
    ledger_receive_payment(account_id=account.pk, amount="3", idempotency_key="k")

    with pytest.raises(IdempotencyConflict):
        ledger_charge(account_id=account.pk, amount="3", idempotency_key="k")


def test_payment_replay_books_the_money_once():
    account = AccountFactory()
    first = ledger_receive_payment(account_id=account.pk, amount="25", idempotency_key="bank-1")

    again = ledger_receive_payment(account_id=account.pk, amount="25", idempotency_key="bank-1")

    assert again.replayed is True
    assert again.entry.pk == first.entry.pk
    assert _books(account) == (Decimal("25"), Decimal("0"), Decimal("0"), 1)


def test_keys_are_per_account():
    one, two = AccountFactory(funds="5"), AccountFactory(funds="5")

    ledger_charge(account_id=one.pk, amount="1", idempotency_key="same")
    booking = ledger_charge(account_id=two.pk, amount="2", idempotency_key="same")

    assert booking.replayed is False
    assert _books(one)[0] == Decimal("4")
    assert _books(two)[0] == Decimal("3")


def test_reserve_replay_returns_the_same_hold_and_holds_once():
    account = AccountFactory(funds="10")
    first = ledger_reserve(account_id=account.pk, amount="4", idempotency_key="call-1")

    again = ledger_reserve(account_id=account.pk, amount="4", idempotency_key="call-1")

    assert again.replayed is True
    assert again.reservation.pk == first.reservation.pk
    assert Reservation.objects.filter(account=account).count() == 1
    assert _books(account)[2] == Decimal("4")


def test_reserve_same_key_different_amount_is_an_idempotency_conflict():
    account = AccountFactory(funds="10")
    ledger_reserve(account_id=account.pk, amount="4", idempotency_key="call-1")

    with pytest.raises(IdempotencyConflict):
        ledger_reserve(account_id=account.pk, amount="5", idempotency_key="call-1")

    assert _books(account)[2] == Decimal("4")
