"""Races through the API as integrations run them: real threads, each with its own
PostgreSQL connection, starting together.

The API wraps each service call in a transaction with its idempotency record, which
holds the account's lock longer than the service alone; these tests race that path.
"""

import threading
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import IdempotencyRecord
from api.services import api_key_create
from invoicing.models import Invoice, PaymentAllocation
from invoicing.services import invoicing_run_month
from ledger.models import Entry, EntryKind, Reservation, ReservationStatus
from ledger.selectors import account_figures
from ledger.services import ledger_reserve
from ledger.tasks import expire_reservations
from tests.factories import AccountFactory, UserFactory
from tests.invoicing.helpers import assert_books_agree, at, charge

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_TIMEOUT = 120
STAGGER = timedelta(milliseconds=250)  # between two holds' expiries
LEAD = timedelta(milliseconds=12)  # the nth commit is sent n leads before its expiry
PAYMENT_STAGGER = 0.04  # seconds


def api_key(*codenames) -> str:
    # Permissions, not groups: a transactional test's flush drops migration-made groups.
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return api_key_create(user=user, name="race")[1]


def post(raw_key: str, path: str, body: dict, key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def race(*works) -> list:
    """Run each callable in its own thread, all released together; their results in
    order. Any error in a thread fails the test."""
    start = threading.Barrier(len(works))
    results: list = [None] * len(works)
    errors: list[BaseException] = []

    def runner(n, work):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            results[n] = work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=runner, args=(n, work), daemon=True) for n, work in enumerate(works)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def wait_until(moment) -> None:
    while timezone.now() < moment:
        time.sleep(0.001)


def verify_ledger() -> str:
    out = StringIO()
    call_command("verify_ledger", stdout=out)  # raises CommandError on a mismatch
    return out.getvalue()


def test_api_charges_with_distinct_keys_on_one_credit_account_take_exactly_what_fits():
    limit, amount, attempts = Decimal("100"), Decimal("7"), 24
    fits = int(limit // amount)  # 14 charges of 7 within a limit of 100
    account = AccountFactory(payment_mode="credit_limit", credit_limit=str(limit))
    raw_key = api_key("post_charge")
    path = f"/api/v1/accounts/{account.pk}/charges/"

    answers = race(
        *(
            lambda n=n: post(raw_key, path, {"amount": str(amount)}, key=f"charge-{n}")
            for n in range(attempts)
        )
    )

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: fits, 402: attempts - fits}
    refused = {answer.json()["error"] for answer in answers if answer.status_code == 402}
    assert refused == {"insufficient_funds"}
    figures = account_figures(account.pk)
    assert figures.balance == -amount * fits
    assert figures.balance >= -limit  # never overdrawn
    assert figures.usable == limit - amount * fits
    assert Entry.objects.filter(account=account, kind=EntryKind.CHARGE).count() == fits
    assert IdempotencyRecord.objects.count() == attempts  # refusals are outcomes too
    assert "Ledger OK" in verify_ledger()


def test_two_payments_with_one_key_book_once_and_both_answers_are_the_same():
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    raw_key = api_key("receive_payment")
    path = f"/api/v1/accounts/{account.pk}/payments/"
    body = {"amount": "42.50", "reference": "wire 7781"}

    answers = race(*(lambda: post(raw_key, path, body, key="pay-once") for _ in range(2)))

    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert Entry.objects.filter(account=account, kind=EntryKind.PAYMENT).count() == 1
    assert account_figures(account.pk).balance == Decimal("42.50")
    assert IdempotencyRecord.objects.count() == 1
    assert "Ledger OK" in verify_ledger()


def test_a_hold_committed_as_it_expires_is_either_committed_or_expired_never_both():
    """Beat's task reaches each hold the moment it expires, while the client's commit of
    it is on its way: each hold ends one way, and the client's answer says which.

    The holds expire one after another, each commit sent a little earlier before its
    hold's expiry than the one before (so whatever a request takes on this machine, some
    arrive just as their hold expires), and the task runs without pause meanwhile (as
    beat's minute firing would at that instant): each hold is a race of its own."""
    holds, amount = 20, Decimal("10")
    first = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    expiries = [first + n * STAGGER for n in range(holds)]
    account = AccountFactory(funds="1000")
    reservations = []
    for n, expiry in enumerate(expiries):
        with time_machine.travel(expiry - timedelta(seconds=60), tick=False):
            booking = ledger_reserve(
                account_id=account.pk, amount=amount, idempotency_key=f"h{n}", expires_in=60
            )
        reservations.append(booking.reservation)
    raw_key = api_key("change_reservation")

    def commit(n, reservation):
        connection.ensure_connection()  # connected before the moment comes
        wait_until(reservation.expires_at - n * LEAD)
        path = f"/api/v1/reservations/{reservation.pk}/commit/"
        return post(raw_key, path, {}, key=f"commit-{reservation.pk}")

    def expire_as_beat_does():
        wait_until(first)
        expired = 0
        while Reservation.objects.filter(account=account, status="pending").exists():
            expired += expire_reservations()  # the task's body, as a worker runs it
        return expired

    with time_machine.travel(first - timedelta(seconds=1)):
        *answers, expired = race(
            *(lambda n=n, r=r: commit(n, r) for n, r in enumerate(reservations)),
            expire_as_beat_does,
        )

    final = dict(
        Reservation.objects.filter(account=account).values_list("pk", "status").order_by("pk")
    )
    assert set(final.values()) <= {ReservationStatus.COMMITTED, ReservationStatus.EXPIRED}
    committed = {pk for pk, status in final.items() if status == ReservationStatus.COMMITTED}
    for reservation, answer in zip(reservations, answers, strict=True):
        if reservation.pk in committed:
            assert answer.status_code == 200, answer.content
            assert answer.json()["status"] == "committed"
        else:
            assert answer.status_code == 409, answer.content
            assert answer.json()["error"] == "invalid_transition"
    assert expired == holds - len(committed)
    charges = Entry.objects.filter(account=account, kind=EntryKind.CHARGE)
    assert charges.count() == len(committed)
    figures = account_figures(account.pk)
    assert figures.reserved == 0
    assert figures.balance == figures.usable == Decimal("1000") - amount * len(committed)
    assert "Ledger OK" in verify_ledger()


def test_payments_arriving_during_the_monthly_run_are_applied_once_each():
    """Eight accounts billed one per chunk while each receives a payment through the
    API: whether the payment lands before or after its invoice, the invoice is paid
    with it exactly once (an earlier payment pays it when it is issued)."""
    payments = ["25", "40", "60", "25", "40", "60", "10", "40"]  # part, exact, over
    with time_machine.travel(at(2026, 11, 1, 8)):
        accounts = [
            AccountFactory(payment_mode="credit_limit", credit_limit="500") for _ in payments
        ]
    for account in accounts:
        charge(account, "40", at(2026, 11, 15, 12))
    raw_key = api_key("receive_payment")

    def pay(n, account, amount):
        # The run bills in account order; the payments come in the opposite order, so
        # the first accounts' payments find their invoice issued and the last ones' not.
        time.sleep((len(accounts) - n) * PAYMENT_STAGGER)
        path = f"/api/v1/accounts/{account.pk}/payments/"
        return post(raw_key, path, {"amount": amount}, key=f"pay-{account.pk}")

    with time_machine.travel(at(2026, 12, 1, 0, 5)):
        *answers, result = race(
            *(
                lambda n=n, a=a, m=m: pay(n, a, m)
                for n, (a, m) in enumerate(zip(accounts, payments, strict=True))
            ),
            lambda: invoicing_run_month(run_date=date(2026, 12, 1), chunk_size=1),
        )

    assert [answer.status_code for answer in answers] == [201] * len(accounts)
    assert result.invoices == len(accounts)
    for account, paid in zip(accounts, payments, strict=True):
        paid = Decimal(paid)
        [invoice] = Invoice.objects.filter(account=account)
        assert invoice.total == Decimal("40")
        applied = min(paid, invoice.total)
        assert invoice.amount_paid == applied, (account.pk, paid)
        allocations = PaymentAllocation.objects.filter(invoice=invoice)
        assert sum(a.amount for a in allocations) == applied
        assert Entry.objects.filter(account=account, kind=EntryKind.PAYMENT).count() == 1
        figures = account_figures(account.pk)
        assert figures.balance == paid - invoice.total
        assert figures.unbilled == 0
        assert invoice.status == ("paid" if paid >= invoice.total else "approved")
    assert_books_agree()
    assert "Ledger OK" in verify_ledger()
