import pytest
from django.utils import timezone

from ledger.models import Entry, Reservation
from tests.factories import AccountFactory

from .conftest import new_key

pytestmark = pytest.mark.django_db


def _post(api, path, body=None):
    return api.post(path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())


def _hold(api, account, amount="10", **extra):
    response = _post(
        api, f"/api/v1/accounts/{account.pk}/reservations/", {"amount": amount, **extra}
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_reservation_is_pending_and_holds_usable_funds(staff_api, account):
    hold = _hold(staff_api, account, "10", description="call", expires_in=120)

    assert hold["status"] == "pending"
    assert hold["amount"] == {"amount": "10.000000", "currency": "USD"}
    assert hold["expires_at"]
    assert hold["entry"] is None
    assert hold["account"]["reserved"]["amount"] == "10.000000"
    assert hold["account"]["usable"]["amount"] == "90.000000"


def test_reservation_beyond_usable_is_402(staff_api, account):
    response = _post(staff_api, f"/api/v1/accounts/{account.pk}/reservations/", {"amount": "101"})

    assert response.status_code == 402
    assert response.json()["error"] == "insufficient_funds"
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("expires_in", [0, -1, 10**9, "soon"])
def test_bad_expiry_is_400_naming_it(staff_api, account, expires_in):
    response = _post(
        staff_api,
        f"/api/v1/accounts/{account.pk}/reservations/",
        {"amount": "1", "expires_in": expires_in},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "expires_in"
    assert not Reservation.objects.exists()


def test_commit_books_a_charge_of_the_final_amount(staff_api, account):
    hold = _hold(staff_api, account, "10")

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/", {"amount": "7.5"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "committed"
    assert body["committed_amount"]["amount"] == "7.500000"
    entry = Entry.objects.get(pk=body["entry"])
    assert entry.amount == -7.5
    assert body["account"]["reserved"]["amount"] == "0.000000"
    assert body["account"]["balance"]["amount"] == "92.500000"


def test_commit_without_amount_charges_the_whole_hold(staff_api, account):
    hold = _hold(staff_api, account, "10")

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/")

    assert response.status_code == 200
    assert Entry.objects.get(pk=response.json()["entry"]).amount == -10


def test_commit_more_than_held_is_400_and_leaves_the_hold_pending(staff_api, account):
    hold = _hold(staff_api, account, "10")

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/", {"amount": "10.01"})

    assert response.status_code == 400
    assert response.json()["field"] == "amount"
    assert Reservation.objects.get(pk=hold["id"]).status == "pending"
    assert not Entry.objects.filter(reservation_id=hold["id"]).exists()


def test_release_gives_the_hold_back(staff_api, account):
    hold = _hold(staff_api, account, "10")

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/release/")

    assert response.status_code == 200
    assert response.json()["status"] == "released"
    assert response.json()["account"]["usable"]["amount"] == "100.000000"


def test_commit_after_release_is_409_invalid_transition(staff_api, account):
    hold = _hold(staff_api, account)
    _post(staff_api, f"/api/v1/reservations/{hold['id']}/release/")

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/")

    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    assert "released" in response.json()["detail"]
    assert not Entry.objects.filter(reservation_id=hold["id"]).exists()


def test_release_after_commit_is_409_invalid_transition(staff_api, account):
    hold = _hold(staff_api, account)
    _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/")

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/release/")

    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    assert Reservation.objects.get(pk=hold["id"]).status == "committed"


def test_commit_of_an_expired_hold_is_409(staff_api, account, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    hold = _hold(staff_api, account, expires_in=60)
    time_machine.shift(120)

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/")

    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"


def test_committing_again_with_another_amount_is_409(staff_api, account):
    hold = _hold(staff_api, account, "10")
    _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/", {"amount": "4"})

    response = _post(staff_api, f"/api/v1/reservations/{hold['id']}/commit/", {"amount": "5"})

    assert response.status_code == 409
    assert Entry.objects.filter(reservation_id=hold["id"]).count() == 1


def test_a_hold_past_the_ceiling_is_402_naming_it_and_holds_nothing(staff_api):
    account = AccountFactory(payment_mode="postpaid")
    _hold(staff_api, account, "9999999999999.999999")

    response = _post(staff_api, f"/api/v1/accounts/{account.pk}/reservations/", {"amount": "1"})

    assert response.status_code == 402
    assert response.json()["error"] == "ceiling_exceeded"
    assert "10,000,000,000,000" in response.json()["detail"]
    assert Reservation.objects.filter(account=account).count() == 1
