"""Holds: pending → committed / released / expired (docs/design.md §2)."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing_site.exceptions import IdempotencyConflict, InvalidInput, InvalidTransition, NotFound
from ledger.exceptions import InsufficientFunds
from ledger.models import Balance, Entry, EntryKind, Reservation, ReservationStatus
from ledger.selectors import account_figures
from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_expire_reservations,
    ledger_release,
    ledger_reserve,
)
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def _books(account):
    row = Balance.objects.get(account=account)
    return (row.balance, row.unbilled, row.reserved, row.entry_count)


def _hold(account, amount, key="h1", **kwargs):
    return ledger_reserve(
        account_id=account.pk, amount=amount, idempotency_key=key, **kwargs
    ).reservation


def _status(hold):
    # Protected FSM fields refuse refresh_from_db: read the row again.
    return Reservation.objects.get(pk=hold.pk).status


def test_a_hold_reduces_usable_without_touching_the_balance():
    account = AccountFactory(funds="10")

    booking = ledger_reserve(account_id=account.pk, amount="4", idempotency_key="call-1")

    assert booking.entry is None
    assert booking.reservation.status == ReservationStatus.PENDING
    figures = account_figures(account)
    assert (figures.balance, figures.reserved, figures.usable) == (
        Decimal("10"),
        Decimal("4"),
        Decimal("6"),
    )
    assert _books(account)[3] == 1  # no entry for a hold


def test_a_hold_beyond_usable_is_refused_and_holds_nothing():
    account = AccountFactory(funds="10")
    _hold(account, "6", "h1")

    with pytest.raises(InsufficientFunds):
        _hold(account, "4.000001", "h2")

    assert Reservation.objects.filter(account=account).count() == 1
    assert _books(account)[2] == Decimal("6")
    _hold(account, "4", "h3")
    assert account_figures(account).usable == Decimal("0")


def test_committing_less_than_the_hold_charges_the_final_amount_and_frees_the_rest():
    staff = UserFactory()
    account = AccountFactory(funds="10")
    hold = _hold(account, "4", description="Call to +44…")

    booking = ledger_commit(reservation_id=hold.pk, amount="2.5", settled_by=staff)

    entry = Entry.objects.get(pk=booking.entry.pk)
    assert entry.amount == Decimal("-2.5")
    assert entry.kind == EntryKind.CHARGE
    assert entry.reservation_id == hold.pk
    assert entry.description == "Call to +44…"
    assert entry.created_by == staff
    hold = Reservation.objects.get(pk=hold.pk)
    assert hold.status == ReservationStatus.COMMITTED
    assert hold.committed_amount == Decimal("2.5")
    assert hold.settled_by == staff
    assert hold.settled_at is not None
    assert _books(account) == (Decimal("7.5"), Decimal("-2.5"), Decimal("0"), 2)
    assert account_figures(account).usable == Decimal("7.5")


def test_committing_without_an_amount_charges_the_whole_hold():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")

    booking = ledger_commit(reservation_id=hold.pk)

    assert booking.entry.amount == Decimal("-4")
    assert _books(account) == (Decimal("6"), Decimal("-4"), Decimal("0"), 2)


def test_committing_a_hold_succeeds_even_when_usable_is_zero():
    account = AccountFactory(funds="4")
    hold = _hold(account, "4")
    assert account_figures(account).usable == Decimal("0")

    ledger_commit(reservation_id=hold.pk, amount="4")

    assert _books(account)[:3] == (Decimal("0"), Decimal("-4"), Decimal("0"))


def test_committing_more_than_the_hold_is_refused():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")

    with pytest.raises(InvalidInput, match="more than the hold") as refused:
        ledger_commit(reservation_id=hold.pk, amount="4.000001")

    assert refused.value.field == "amount"
    assert _status(hold) == ReservationStatus.PENDING
    assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("4"), 1)


def test_committing_twice_returns_the_first_charge():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")
    first = ledger_commit(reservation_id=hold.pk, amount="3")
    books = _books(account)

    again = ledger_commit(reservation_id=hold.pk, amount="3")
    without_amount = ledger_commit(reservation_id=hold.pk)

    assert again.replayed is True
    assert again.entry.pk == first.entry.pk
    assert without_amount.entry.pk == first.entry.pk
    assert _books(account) == books


def test_committing_again_with_another_amount_is_a_conflict():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")
    ledger_commit(reservation_id=hold.pk, amount="3")

    with pytest.raises(IdempotencyConflict):
        ledger_commit(reservation_id=hold.pk, amount="2")

    assert _books(account) == (Decimal("7"), Decimal("-3"), Decimal("0"), 2)


def test_committing_a_released_hold_is_an_invalid_transition():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")
    ledger_release(reservation_id=hold.pk)

    with pytest.raises(InvalidTransition, match="released"):
        ledger_commit(reservation_id=hold.pk)

    assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("0"), 1)


def test_releasing_gives_the_hold_back_and_releasing_twice_is_harmless():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")

    first = ledger_release(reservation_id=hold.pk)
    again = ledger_release(reservation_id=hold.pk)

    assert first.replayed is False
    assert again.replayed is True
    assert _status(hold) == ReservationStatus.RELEASED
    assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("0"), 1)
    assert account_figures(account).usable == Decimal("10")


def test_releasing_a_committed_hold_is_an_invalid_transition():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4")
    ledger_commit(reservation_id=hold.pk, amount="1")

    with pytest.raises(InvalidTransition):
        ledger_release(reservation_id=hold.pk)

    assert _status(hold) == ReservationStatus.COMMITTED
    assert _books(account) == (Decimal("9"), Decimal("-1"), Decimal("0"), 2)


def test_settling_an_unknown_hold_is_refused():
    with pytest.raises(NotFound):
        ledger_commit(reservation_id=123456)
    with pytest.raises(NotFound):
        ledger_release(reservation_id=123456)


@pytest.mark.parametrize("expires_in", [0, -5, 31 * 24 * 3600 + 1, "60", 1.5, True])
def test_a_hold_needs_a_sensible_expiry(expires_in):
    account = AccountFactory(funds="10")

    with pytest.raises(InvalidInput) as refused:
        _hold(account, "1", expires_in=expires_in)

    assert refused.value.field == "expires_in"
    assert not Reservation.objects.exists()


def test_expired_holds_are_released_by_the_sweep_and_cannot_be_committed():
    account = AccountFactory(funds="10")
    short = _hold(account, "4", "h1", expires_in=60)
    long = _hold(account, "3", "h2", expires_in=3600)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert ledger_expire_reservations() == 1
        assert ledger_expire_reservations() == 0  # safe to run twice

        assert _status(short) == ReservationStatus.EXPIRED
        assert _status(long) == ReservationStatus.PENDING
        assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("3"), 1)
        assert account_figures(account).usable == Decimal("7")
        with pytest.raises(InvalidTransition, match="expired"):
            ledger_commit(reservation_id=short.pk)
        with pytest.raises(InvalidTransition):
            ledger_release(reservation_id=short.pk)

    assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("3"), 1)


def test_a_hold_past_its_expiry_cannot_be_committed_before_the_sweep_runs():
    account = AccountFactory(funds="10")
    hold = _hold(account, "4", expires_in=60)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        with pytest.raises(InvalidTransition, match="expired at"):
            ledger_commit(reservation_id=hold.pk)
        assert _status(hold) == ReservationStatus.PENDING
        assert _books(account) == (Decimal("10"), Decimal("0"), Decimal("4"), 1)
        # The client's money is not stuck: the sweep hands it back.
        assert ledger_expire_reservations() == 1

    assert account_figures(account).usable == Decimal("10")


def test_the_sweep_leaves_settled_holds_alone():
    account = AccountFactory(funds="10")
    committed = _hold(account, "2", "h1", expires_in=60)
    released = _hold(account, "2", "h2", expires_in=60)
    ledger_commit(reservation_id=committed.pk)
    ledger_release(reservation_id=released.pk)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert ledger_expire_reservations() == 0

    assert _status(committed) == ReservationStatus.COMMITTED
    assert _status(released) == ReservationStatus.RELEASED
    assert _books(account) == (Decimal("8"), Decimal("-2"), Decimal("0"), 2)


def test_the_sweep_honours_its_batch_limit():
    account = AccountFactory(funds="10")
    for n in range(3):
        _hold(account, "1", f"h{n}", expires_in=60)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert ledger_expire_reservations(limit=2) == 2
        assert ledger_expire_reservations(limit=2) == 1

    assert _books(account)[2] == Decimal("0")


def test_a_hold_counts_against_later_charges_until_settled():
    account = AccountFactory(funds="10")
    hold = _hold(account, "8")

    with pytest.raises(InsufficientFunds):
        ledger_charge(account_id=account.pk, amount="3", idempotency_key="c1")
    ledger_release(reservation_id=hold.pk)
    ledger_charge(account_id=account.pk, amount="3", idempotency_key="c1")

    assert _books(account)[0] == Decimal("7")
