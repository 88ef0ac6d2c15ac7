"""One idempotency key, one outcome, at the service level, with real threads.

Identical calls with one key at the same instant: the first books, every other one
returns that booking, even when the booking used up the funds the others would have
needed. A refusal is never answered for a key that has a booking.
"""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from billing_site.exceptions import DomainError
from billing_site.money import MAX_AMOUNT
from ledger.models import Balance, Entry, Reservation
from ledger.selectors import ledger_mismatches
from ledger.services import ledger_charge, ledger_receive_payment, ledger_reserve
from tests.factories import AccountFactory

from .test_concurrency import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
ROUNDS = 25


def _race(call) -> list:
    """Run `call()` in THREADS threads at once; each result or the error it raised."""

    def work(n):
        try:
            return call()
        except DomainError as exc:
            return exc

    return run_in_threads(THREADS, work)


def _outcome(result) -> str:
    return type(result).__name__ if isinstance(result, DomainError) else "booked"


def _mixed_rounds(spend, booked_for, *, in_transaction: bool) -> list[list[str]]:
    mixed = []
    for _ in range(ROUNDS):
        account = AccountFactory(payment_mode="credit_limit", credit_limit="10.00")
        key = str(uuid.uuid4())

        def call(account_id=account.pk, key=key):
            if in_transaction:  # as the API calls it: the caller's transaction holds the lock
                with transaction.atomic():
                    return spend(account_id=account_id, amount="10.00", idempotency_key=key)
            return spend(account_id=account_id, amount="10.00", idempotency_key=key)

        results = _race(call)

        outcomes = [_outcome(result) for result in results]
        if len(set(outcomes)) != 1:
            mixed.append(outcomes)
        assert booked_for(account) == 1, outcomes
        assert sum(not r.replayed for r in results if not isinstance(r, DomainError)) <= 1
    return mixed


@pytest.mark.parametrize("in_transaction", [False, True], ids=["autocommit", "in_transaction"])
def test_racing_holds_with_one_key_hold_once_and_all_return_it(in_transaction):
    mixed = _mixed_rounds(
        ledger_reserve,
        lambda account: Reservation.objects.filter(account=account).count(),
        in_transaction=in_transaction,
    )

    assert mixed == [], f"{len(mixed)} of {ROUNDS} rounds had mixed outcomes: {mixed}"
    assert list(ledger_mismatches()) == []


@pytest.mark.parametrize("in_transaction", [False, True], ids=["autocommit", "in_transaction"])
def test_racing_charges_with_one_key_book_once_and_all_return_it(in_transaction):
    mixed = _mixed_rounds(
        ledger_charge,
        lambda account: Entry.objects.filter(account=account, kind="charge").count(),
        in_transaction=in_transaction,
    )

    assert mixed == [], f"{len(mixed)} of {ROUNDS} rounds had mixed outcomes: {mixed}"
    assert list(ledger_mismatches()) == []


def test_racing_payments_with_one_key_up_to_the_ceiling_book_once_and_all_return_it():
    """A payment that fits under the ceiling once: the retries see the booking, not a
    ceiling refusal (the ceiling is decided under the lock, after the key)."""
    for _ in range(10):
        account = AccountFactory(payment_mode="postpaid")
        room = MAX_AMOUNT - Decimal("0.000001")
        ledger_receive_payment(
            account_id=account.pk, amount=room - 5, idempotency_key=str(uuid.uuid4())
        )
        key = str(uuid.uuid4())

        results = _race(
            lambda account_id=account.pk, key=key: ledger_receive_payment(
                account_id=account_id, amount="5", idempotency_key=key
            )
        )

        assert {_outcome(result) for result in results} == {"booked"}, results
        assert Entry.objects.filter(account=account, idempotency_key=key).count() == 1
        assert Balance.objects.get(account=account).balance == room
