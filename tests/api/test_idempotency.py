"""Idempotency-Key: the first answer again for a retry, 409 for a different request."""

import pytest

from accounts.models import Client
from api.models import IdempotencyRecord
from ledger.models import Entry, Reservation
from ledger.services import ledger_release, ledger_reserve
from tests.factories import staff_user

from .conftest import client_for, new_key

pytestmark = pytest.mark.django_db


def _post(api, path, body, key):
    return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _money_posts(account):
    """(path, body) of every money-moving POST, each on a fresh hold where it needs one."""
    holds = [
        ledger_reserve(account_id=account.pk, amount="5", idempotency_key=new_key()).reservation
        for _ in range(2)
    ]
    return {
        "charge": (f"/api/v1/accounts/{account.pk}/charges/", {"amount": "3"}),
        "reservation": (f"/api/v1/accounts/{account.pk}/reservations/", {"amount": "3"}),
        "payment": (f"/api/v1/accounts/{account.pk}/payments/", {"amount": "3"}),
        "commit": (f"/api/v1/reservations/{holds[0].pk}/commit/", {"amount": "3"}),
        "release": (f"/api/v1/reservations/{holds[1].pk}/release/", {}),
    }


def _books(account):
    return (
        Entry.objects.filter(account=account).count(),
        list(Reservation.objects.filter(account=account).values_list("status", flat=True)),
    )


@pytest.mark.parametrize("action", ["charge", "reservation", "payment", "commit", "release"])
def test_replay_returns_the_identical_response_and_books_once(staff_api, account, action):
    path, body = _money_posts(account)[action]
    key = new_key()
    first = _post(staff_api, path, body, key)
    books_after_first = _books(account)

    again = _post(staff_api, path, body, key)

    assert first.status_code in (200, 201)
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert _books(account) == books_after_first


@pytest.mark.parametrize("action", ["charge", "reservation", "payment", "commit", "release"])
def test_missing_idempotency_key_is_400_and_books_nothing(staff_api, account, action):
    path, body = _money_posts(account)[action]
    before = _books(account)

    response = staff_api.post(path, body, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
    assert response.json()["error"] == "invalid"
    assert _books(account) == before


def test_same_key_with_a_different_body_is_409_and_books_nothing(staff_api, account):
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = new_key()
    _post(staff_api, path, {"amount": "3"}, key)

    response = _post(staff_api, path, {"amount": "4"}, key)

    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert response.json()["field"] == "Idempotency-Key"
    assert Entry.objects.filter(account=account).count() == 2


def test_same_key_on_another_path_is_409(staff_api, account, other_account):
    key = new_key()
    _post(staff_api, f"/api/v1/accounts/{account.pk}/charges/", {"amount": "3"}, key)

    response = _post(
        staff_api, f"/api/v1/accounts/{other_account.pk}/charges/", {"amount": "3"}, key
    )

    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert Entry.objects.filter(account=other_account).count() == 1


def test_same_body_in_another_key_order_or_spacing_is_a_replay(staff_api, account):
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = new_key()
    staff_api.post(
        path,
        '{"amount": "3", "description": "x"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )

    response = staff_api.post(
        path,
        '{ "description":"x",\n "amount":"3" }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )

    assert response.status_code == 201
    assert Entry.objects.filter(account=account).count() == 2


def test_a_replay_is_not_decided_again_even_when_funds_ran_out(staff_api, account):
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = new_key()
    first = _post(staff_api, path, {"amount": "60"}, key)
    _post(staff_api, path, {"amount": "40"}, new_key())

    again = _post(staff_api, path, {"amount": "60"}, key)

    assert again.status_code == 201
    assert again.content == first.content


def test_a_refused_spend_is_the_keys_outcome_even_after_a_top_up(staff_api, account):
    # One key, one outcome: the refusal is replayed; the top-up allows a new operation,
    # under a new key.
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = new_key()
    refused = _post(staff_api, path, {"amount": "150"}, key)
    _post(staff_api, f"/api/v1/accounts/{account.pk}/payments/", {"amount": "100"}, new_key())

    retried = _post(staff_api, path, {"amount": "150"}, key)
    with_a_new_key = _post(staff_api, path, {"amount": "150"}, new_key())

    assert refused.status_code == 402
    assert refused.json()["error"] == "insufficient_funds"
    assert retried.status_code == 402
    assert retried.content == refused.content
    assert retried["Idempotent-Replayed"] == "true"
    assert with_a_new_key.status_code == 201
    assert with_a_new_key.json()["account"]["balance"]["amount"] == "50.000000"


def test_a_refused_hold_is_replayed_with_its_key_and_holds_nothing(staff_api, account):
    path = f"/api/v1/accounts/{account.pk}/reservations/"
    key = new_key()
    refused = _post(staff_api, path, {"amount": "150"}, key)
    _post(staff_api, f"/api/v1/accounts/{account.pk}/payments/", {"amount": "100"}, new_key())

    retried = _post(staff_api, path, {"amount": "150"}, key)

    assert (refused.status_code, retried.status_code) == (402, 402)
    assert retried.content == refused.content
    assert not Reservation.objects.filter(account=account).exists()


def test_a_refused_commit_is_replayed_with_its_key(staff_api, account):
    hold = ledger_reserve(account_id=account.pk, amount="5", idempotency_key=new_key())
    ledger_release(reservation_id=hold.reservation.pk)
    path = f"/api/v1/reservations/{hold.reservation.pk}/commit/"
    key = new_key()

    first = _post(staff_api, path, {}, key)
    again = _post(staff_api, path, {}, key)

    assert (first.status_code, again.status_code) == (409, 409)
    assert first.json()["error"] == "invalid_transition"
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"


def test_a_refusal_with_the_key_and_another_body_is_a_conflict(staff_api, account):
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = new_key()
    _post(staff_api, path, {"amount": "150"}, key)

    response = _post(staff_api, path, {"amount": "50"}, key)

    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert Entry.objects.filter(account=account).count() == 1


def test_invalid_request_is_not_stored(staff_api, account):
    path = f"/api/v1/accounts/{account.pk}/charges/"
    key = new_key()
    _post(staff_api, path, {"amount": "-1"}, key)

    assert not IdempotencyRecord.objects.exists()
    assert _post(staff_api, path, {"amount": "1"}, key).status_code == 201


def test_two_callers_may_use_the_same_key_independently(account):
    first, second = client_for(staff_user("Billing staff")), client_for(staff_user("Managers"))
    path = f"/api/v1/accounts/{account.pk}/charges/"

    a = _post(first, path, {"amount": "3"}, "order-1")
    b = _post(second, path, {"amount": "3"}, "order-1")

    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_ledger_entry_carries_a_key_derived_from_the_header(staff_api, account):
    response = _post(staff_api, f"/api/v1/accounts/{account.pk}/charges/", {"amount": "1"}, "k-1")

    key = Entry.objects.get(pk=response.json()["id"]).idempotency_key
    assert key.startswith("api:")
    assert key.endswith(":k-1")


def test_overlong_key_is_400(staff_api, account):
    response = _post(
        staff_api, f"/api/v1/accounts/{account.pk}/charges/", {"amount": "1"}, "k" * 151
    )

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"


def test_client_creation_with_a_key_is_made_once(staff_api):
    body = {"name": "Acme", "email": "ap@acme.example", "currency": "EUR"}
    key = new_key()

    first = _post(staff_api, "/api/v1/clients/", body, key)
    again = _post(staff_api, "/api/v1/clients/", body, key)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert Client.objects.filter(name="Acme").count() == 1


def test_client_creation_without_a_key_is_allowed(staff_api):
    body = {"name": "Acme", "email": "ap@acme.example", "currency": "EUR"}

    assert staff_api.post("/api/v1/clients/", body, format="json").status_code == 201
    assert staff_api.post("/api/v1/clients/", body, format="json").status_code == 201
    assert Client.objects.filter(name="Acme").count() == 2
