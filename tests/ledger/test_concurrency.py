"""Concurrent spends on one account never overdraw (docs/design.md §2), with real threads.

Each thread has its own PostgreSQL connection, so the row lock in `lock_books` is what
serialises them.
"""

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from accounts.models import PaymentModeChange
from accounts.services import account_convert_mode
from billing_site.exceptions import InvalidTransition
from ledger.exceptions import SpendRefused
from ledger.models import Balance, Entry, Reservation, ReservationStatus
from ledger.selectors import ledger_mismatches
from ledger.services import ledger_charge, ledger_commit, ledger_release, ledger_reserve
from tests.factories import AccountFactory

pytestmark = [pytest.mark.django_db(transaction=True)]

LIMIT = Decimal("100.000000")
AMOUNT = Decimal("0.700000")
CAPACITY = int(LIMIT // AMOUNT)  # 142 charges of 0.70 fit in a limit of 100
JOIN_TIMEOUT = 60


def run_in_threads(count: int, work: Callable[[int], object]) -> list:
    """Start `count` threads together; return their results, re-raising any error."""
    start = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def runner(n):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            results[n] = work(n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def charge_until_refused(account_id: int, prefix: str, amount=AMOUNT) -> int:
    accepted = 0
    while True:
        try:
            ledger_charge(
                account_id=account_id, amount=amount, idempotency_key=f"{prefix}-{accepted}"
            )
        except SpendRefused:
            return accepted
        accepted += 1


def entries_total(account) -> Decimal:
    return Entry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]


def test_64_threads_charging_one_credit_account_never_overdraw():
    account = AccountFactory(payment_mode="credit_limit", credit_limit=LIMIT)

    accepted = run_in_threads(64, lambda n: charge_until_refused(account.pk, f"t{n}"))

    assert sum(accepted) == CAPACITY
    row = Balance.objects.get(account=account)
    assert row.balance == -AMOUNT * CAPACITY
    assert row.balance >= -LIMIT
    assert row.balance == entries_total(account)
    assert row.entry_count == Entry.objects.filter(account=account).count() == CAPACITY
    assert list(ledger_mismatches()) == []


def test_64_threads_reserving_on_one_credit_account_never_overdraw():
    account = AccountFactory(payment_mode="credit_limit", credit_limit=LIMIT)

    def reserve_until_refused(n):
        held = 0
        while True:
            try:
                ledger_reserve(account_id=account.pk, amount=AMOUNT, idempotency_key=f"t{n}-{held}")
            except SpendRefused:
                return held
            held += 1

    held = run_in_threads(64, reserve_until_refused)

    assert sum(held) == CAPACITY
    pending = Reservation.objects.filter(account=account, status=ReservationStatus.PENDING)
    assert pending.count() == CAPACITY
    row = Balance.objects.get(account=account)
    assert row.reserved == pending.aggregate(total=Sum("amount"))["total"] == AMOUNT * CAPACITY
    assert row.balance - row.reserved >= -LIMIT
    assert row.balance == 0
    assert list(ledger_mismatches()) == []


def test_no_spend_beyond_prepaid_is_accepted_once_a_conversion_commits():
    """Threads charge a credit account while staff convert it to prepaid mid-run.

    Under the books lock the conversion sits between two charges; every charge after it
    is decided in prepaid mode. With the balance negative at that point, prepaid allows
    nothing, so the balance at the conversion is the final balance; with money left,
    charges go on only while they fit in it.
    """
    funds = Decimal("20")
    account = AccountFactory(payment_mode="credit_limit", credit_limit=LIMIT, funds=funds)
    threshold = Decimal("-30")
    converted = threading.Event()

    def work(n):
        if n == 0:
            # Convert once the account is well into its credit.
            while Balance.objects.get(account=account).balance > threshold:
                pass
            account_convert_mode(
                account_id=account.pk, payment_mode="prepaid", reason="Credit withdrawn"
            )
            converted.set()
            return 0
        return charge_until_refused(account.pk, f"t{n}")

    accepted = run_in_threads(16, work)

    assert converted.is_set()
    change = PaymentModeChange.objects.get(account=account, to_mode="prepaid")
    at_change = change.balance_at_change
    assert -LIMIT <= at_change <= threshold
    row = Balance.objects.get(account=account)
    # Nothing was accepted after the conversion: prepaid cannot spend a negative balance.
    assert row.balance == at_change
    assert sum(accepted) == row.entry_count - 1  # minus the initial payment
    assert row.balance == entries_total(account)
    assert list(ledger_mismatches()) == []


def test_a_conversion_to_prepaid_with_money_left_lets_spends_go_on_only_within_it():
    account = AccountFactory(payment_mode="credit_limit", credit_limit=LIMIT, funds="50")
    threshold = Decimal("40")

    def work(n):
        if n == 0:
            while Balance.objects.get(account=account).balance > threshold:
                pass
            account_convert_mode(account_id=account.pk, payment_mode="prepaid", reason="x")
            return 0
        return charge_until_refused(account.pk, f"t{n}")

    run_in_threads(16, work)

    at_change = PaymentModeChange.objects.get(account=account, to_mode="prepaid").balance_at_change
    assert at_change > 0
    row = Balance.objects.get(account=account)
    # Charges after the conversion used up what was left, and not a millionth more.
    assert Decimal(0) <= row.balance < AMOUNT
    assert row.balance == at_change - AMOUNT * (at_change // AMOUNT)
    assert row.balance == entries_total(account)


def test_16_threads_racing_one_idempotency_key_book_one_entry():
    account = AccountFactory(funds="100")

    def charge(n):
        return ledger_charge(account_id=account.pk, amount="9.99", idempotency_key="order-1")

    bookings = run_in_threads(16, charge)

    assert Entry.objects.filter(account=account, idempotency_key="order-1").count() == 1
    assert len({booking.entry.pk for booking in bookings}) == 1
    assert sum(not booking.replayed for booking in bookings) == 1
    row = Balance.objects.get(account=account)
    assert (row.balance, row.entry_count) == (Decimal("90.01"), 2)


def test_16_threads_racing_one_hold_key_hold_once():
    account = AccountFactory(funds="100")

    def reserve(n):
        return ledger_reserve(account_id=account.pk, amount="9.99", idempotency_key="call-1")

    bookings = run_in_threads(16, reserve)

    assert Reservation.objects.filter(account=account).count() == 1
    assert len({booking.reservation.pk for booking in bookings}) == 1
    assert Balance.objects.get(account=account).reserved == Decimal("9.99")


def test_racing_commits_and_releases_of_one_hold_settle_it_once():
    account = AccountFactory(funds="100")
    hold = ledger_reserve(account_id=account.pk, amount="10", idempotency_key="h").reservation

    def settle(n):
        try:
            if n % 2:
                return ("commit", ledger_commit(reservation_id=hold.pk, amount="6"))
            return ("release", ledger_release(reservation_id=hold.pk))
        except InvalidTransition:
            return ("refused", None)

    outcomes = run_in_threads(16, settle)

    firsts = [kind for kind, booking in outcomes if booking is not None and not booking.replayed]
    assert len(firsts) == 1
    status = Reservation.objects.get(pk=hold.pk).status
    row = Balance.objects.get(account=account)
    assert row.reserved == 0
    if firsts == ["commit"]:
        assert status == ReservationStatus.COMMITTED
        assert (row.balance, row.entry_count) == (Decimal("94"), 2)
    else:
        assert status == ReservationStatus.RELEASED
        assert (row.balance, row.entry_count) == (Decimal("100"), 1)
    assert list(ledger_mismatches()) == []
