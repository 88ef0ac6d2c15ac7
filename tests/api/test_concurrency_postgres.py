"""Retries racing with one Idempotency-Key on PostgreSQL: one booking, one answer."""

import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from rest_framework.test import APIClient

from accounts.models import Client
from api.models import IdempotencyRecord
from api.services import api_key_create
from ledger.models import Entry
from ledger.selectors import account_figures
from tests.factories import AccountFactory, UserFactory

THREADS = 8


def _race(raw_key: str, path: str, body: dict) -> list[tuple[int, bytes]]:
    barrier = threading.Barrier(THREADS)
    answers = []

    def send():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
            barrier.wait(timeout=10)
            response = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
            answers.append((response.status_code, response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == THREADS
    return answers


def _key_with(*codenames) -> str:
    # Permissions, not groups: a transactional test's flush drops migration-made groups.
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return api_key_create(user=user, name="race")[1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_with_one_key_book_once_and_answer_alike():
    account = AccountFactory(funds="100")
    raw_key = _key_with("post_charge")

    answers = _race(raw_key, f"/api/v1/accounts/{account.pk}/charges/", {"amount": "7"})

    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    assert Entry.objects.filter(account=account, kind="charge").count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert account_figures(account.pk).balance == 93


@pytest.mark.django_db(transaction=True)
def test_concurrent_client_creations_with_one_key_make_one_client():
    # No ledger lock here: only the unique index on the idempotency record meets them.
    raw_key = _key_with("add_client")

    answers = _race(
        raw_key, "/api/v1/clients/", {"name": "Racer", "email": "r@x.example", "currency": "EUR"}
    )

    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    assert Client.objects.filter(name="Racer").count() == 1
