"""One Idempotency-Key, one outcome: identical requests racing on PostgreSQL all get the
answer of the one that was decided first, whether it booked or was refused.

Each thread speaks to the API over its own database connection at the same instant
(a barrier), so the account lock, the ledger's unique keys and the idempotency record's
unique key are what order them; a round is repeated with fresh keys because the
interleavings differ from one round to the next.
"""

import threading
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from rest_framework.test import APIClient

from api.models import IdempotencyRecord
from api.services import api_key_create
from ledger.models import Entry, Reservation
from ledger.selectors import ledger_mismatches
from ledger.services import ledger_charge
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
ROUNDS = 25
JOIN_TIMEOUT = 60


def _api_key(*codenames) -> str:
    # Permissions, not groups: a transactional test's flush drops migration-made groups.
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return api_key_create(user=user, name="race")[1]


def _race(raw_key: str, path: str, body: dict, idempotency_key: str) -> list[tuple[int, str]]:
    """POST the same request from THREADS threads at once; (status, error code) of each."""
    barrier = threading.Barrier(THREADS)
    answers: list[tuple[int, str]] = []
    failures: list[BaseException] = []

    def send():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
            barrier.wait(timeout=JOIN_TIMEOUT)
            response = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key)
            code = "" if response.status_code < 300 else response.json()["error"]
            answers.append((response.status_code, code))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    if failures:
        raise failures[0]
    return answers


def _outcomes(answers) -> set[tuple[int, str]]:
    """What the key's answers say happened; a 409 "in progress" only asks for a retry."""
    return {answer for answer in answers if answer[1] != "in_progress"}


def _mixed_rounds(raw_key: str, path_of, booked_for) -> list[list[tuple[int, str]]]:
    """Race ROUNDS fresh keys, each on a fresh credit account of 10.00 spending 10.00."""
    mixed = []
    for _ in range(ROUNDS):
        account = AccountFactory(payment_mode="credit_limit", credit_limit="10.00")
        key = str(uuid.uuid4())

        answers = _race(raw_key, path_of(account), {"amount": "10.00"}, key)

        outcomes = _outcomes(answers)
        if len(outcomes) != 1:
            mixed.append(answers)
        # Exactly one booking for a key that succeeded, none for a refused one.
        succeeded = any(status < 300 for status, _ in outcomes)
        assert booked_for(account) == (1 if succeeded else 0), answers
        assert IdempotencyRecord.objects.filter(key=key).count() == 1
    return mixed


def test_racing_reservations_with_one_key_all_get_the_first_outcome():
    raw_key = _api_key("add_reservation")

    mixed = _mixed_rounds(
        raw_key,
        lambda account: f"/api/v1/accounts/{account.pk}/reservations/",
        lambda account: Reservation.objects.filter(account=account).count(),
    )

    assert mixed == [], f"{len(mixed)} of {ROUNDS} rounds had mixed answers"
    assert list(ledger_mismatches()) == []


def test_racing_charges_with_one_key_all_get_the_first_outcome():
    raw_key = _api_key("post_charge")

    mixed = _mixed_rounds(
        raw_key,
        lambda account: f"/api/v1/accounts/{account.pk}/charges/",
        lambda account: Entry.objects.filter(account=account, kind="charge").count(),
    )

    assert mixed == [], f"{len(mixed)} of {ROUNDS} rounds had mixed answers"
    assert list(ledger_mismatches()) == []


def test_racing_refused_spends_with_one_key_all_answer_the_refusal_and_book_nothing():
    raw_key = _api_key("post_charge")
    for _ in range(5):
        account = AccountFactory(payment_mode="credit_limit", credit_limit="10.00")
        ledger_charge(account_id=account.pk, amount="5", idempotency_key=str(uuid.uuid4()))
        key = str(uuid.uuid4())

        answers = _race(raw_key, f"/api/v1/accounts/{account.pk}/charges/", {"amount": "6"}, key)

        assert _outcomes(answers) == {(402, "insufficient_funds")}, answers
        assert Entry.objects.filter(account=account).count() == 1
        assert IdempotencyRecord.objects.filter(key=key).count() == 1


def test_a_stored_refusal_wins_over_a_retry_after_the_account_was_topped_up():
    raw_key = _api_key("post_charge", "receive_payment")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10.00")
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = str(uuid.uuid4())

    refused = client.post(path, {"amount": "15"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    topped_up = client.post(
        f"/api/v1/accounts/{account.pk}/payments/",
        {"amount": "100"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    answers = _race(raw_key, path, {"amount": "15"}, key)

    assert refused.status_code == 402
    assert topped_up.status_code == 201
    assert set(answers) == {(402, "insufficient_funds")}
    assert not Entry.objects.filter(account=account, kind="charge").exists()
    assert Entry.objects.get(account=account).amount == Decimal("100")
