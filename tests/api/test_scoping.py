"""A client's login sees its own client only; anything else does not exist for it."""

import pytest
from django.contrib.auth.models import Permission

from accounts.models import BillingAccount, PaymentMode
from ledger.models import Entry, Reservation
from ledger.services import ledger_reserve
from tests.factories import AccountFactory, UserFactory

from .conftest import client_for, new_key

pytestmark = pytest.mark.django_db


def _hold(account):
    return ledger_reserve(account_id=account.pk, amount="5", idempotency_key=new_key()).reservation


ACCOUNT_PATHS = [
    ("get", "/api/v1/accounts/{account}/", None),
    ("post", "/api/v1/accounts/{account}/mode/", {"payment_mode": "postpaid", "reason": "x"}),
    ("post", "/api/v1/accounts/{account}/charges/", {"amount": "1"}),
    ("post", "/api/v1/accounts/{account}/reservations/", {"amount": "1"}),
    ("post", "/api/v1/accounts/{account}/payments/", {"amount": "1"}),
    ("post", "/api/v1/reservations/{reservation}/commit/", {}),
    ("post", "/api/v1/reservations/{reservation}/release/", {}),
    ("post", "/api/v1/clients/{client}/users/", {"username": "u", "password": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_PATHS)
def test_client_login_gets_404_for_another_clients_objects(
    client_user_api, other_account, method, path, body
):
    hold = _hold(other_account)
    entries_before = Entry.objects.count()
    url = path.format(account=other_account.pk, reservation=hold.pk, client=other_account.client_id)

    response = getattr(client_user_api, method)(
        url, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key()
    )

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert Entry.objects.count() == entries_before
    assert Reservation.objects.get(pk=hold.pk).status == "pending"
    assert BillingAccount.objects.get(pk=other_account.pk).payment_mode == PaymentMode.PREPAID


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_PATHS)
def test_unknown_ids_are_404_for_staff(staff_api, method, path, body):
    url = path.format(account=999999, reservation=999999, client=999999)

    response = getattr(staff_api, method)(url, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_client_login_reads_its_own_account(client_user_api, account):
    response = client_user_api.get(f"/api/v1/accounts/{account.pk}/")

    assert response.status_code == 200
    assert response.json()["balance"] == {"amount": "100.000000", "currency": "USD"}


def test_client_login_lists_only_its_own_account(client_user_api, account, other_account):
    response = client_user_api.get("/api/v1/accounts/")

    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [account.pk]


def test_client_login_may_not_charge_its_own_account(client_user_api, account):
    response = client_user_api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )

    assert response.status_code == 403
    assert "ledger.post_charge" in response.json()["detail"]
    assert not Entry.objects.filter(account=account, kind="charge").exists()


def test_key_without_permission_is_403_on_every_money_action(bare_api, account):
    hold = _hold(account)
    for path in [
        f"/api/v1/accounts/{account.pk}/charges/",
        f"/api/v1/accounts/{account.pk}/reservations/",
        f"/api/v1/accounts/{account.pk}/payments/",
        f"/api/v1/reservations/{hold.pk}/commit/",
        f"/api/v1/reservations/{hold.pk}/release/",
    ]:
        response = bare_api.post(path, {"amount": "1"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 403, path
    assert bare_api.post("/api/v1/clients/", {}, format="json").status_code == 403
    assert Reservation.objects.get().status == "pending"


def test_staff_list_sees_every_account_and_filters(staff_api):
    usd = AccountFactory(currency="USD")
    eur = AccountFactory(currency="EUR", payment_mode=PaymentMode.POSTPAID)

    everything = staff_api.get("/api/v1/accounts/").json()
    postpaid = staff_api.get("/api/v1/accounts/?payment_mode=postpaid").json()
    dollars = staff_api.get("/api/v1/accounts/?currency=usd").json()

    assert {a["id"] for a in everything["results"]} == {usd.pk, eur.pk}
    assert [a["id"] for a in postpaid["results"]] == [eur.pk]
    assert postpaid["results"][0]["usable"] is None
    assert [a["id"] for a in dollars["results"]] == [usd.pk]


def test_unknown_filter_value_is_400_naming_it(staff_api):
    response = staff_api.get("/api/v1/accounts/?payment_mode=free")

    assert response.status_code == 400
    assert response.json()["field"] == "payment_mode"


def test_staff_without_view_permission_cannot_list(bare_api):
    assert bare_api.get("/api/v1/accounts/").status_code == 403


def test_view_permission_alone_is_enough_to_read(account):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_billingaccount"))

    assert client_for(user).get(f"/api/v1/accounts/{account.pk}/").status_code == 200
