import pytest
from django.contrib.auth import get_user_model

from accounts.models import BillingAccount, ClientUser, PaymentMode, PaymentModeChange
from tests.factories import AccountFactory

from .conftest import client_for

pytestmark = pytest.mark.django_db


def test_create_client_answers_it_with_its_billing_account(staff_api):
    response = staff_api.post(
        "/api/v1/clients/",
        {
            "name": "Telco",
            "email": "ap@telco.example",
            "currency": "EUR",
            "payment_mode": "credit_limit",
            "credit_limit": "250",
            "payment_term_days": 30,
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    account = BillingAccount.objects.get(client_id=body["id"])
    assert body["account"] == account.pk == body["billing_account"]["id"]
    assert body["billing_account"]["payment_mode"] == "credit_limit"
    assert body["billing_account"]["credit_limit"] == {"amount": "250.000000", "currency": "EUR"}
    assert body["billing_account"]["usable"] == {"amount": "250.000000", "currency": "EUR"}
    assert body["billing_account"]["payment_term_days"] == 30
    assert PaymentModeChange.objects.get(account=account).changed_by is not None


def test_new_client_is_prepaid_by_default(staff_api):
    response = staff_api.post(
        "/api/v1/clients/",
        {"name": "Shop", "email": "a@shop.example", "currency": "USD"},
        format="json",
    )

    assert response.json()["billing_account"]["payment_mode"] == "prepaid"
    assert response.json()["billing_account"]["credit_limit"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.example", "currency": "USD"}, "name"),
        ({"name": "X", "email": "nope", "currency": "USD"}, "email"),
        ({"name": "X", "email": "a@b.example", "currency": "XYZ"}, "currency"),
        (
            {"name": "X", "email": "a@b.example", "currency": "USD", "payment_mode": "x"},
            "payment_mode",
        ),
        (
            {
                "name": "X",
                "email": "a@b.example",
                "currency": "USD",
                "payment_mode": "credit_limit",
            },
            "credit_limit",
        ),
        (
            {"name": "X", "email": "a@b.example", "currency": "USD", "credit_limit": "5"},
            "credit_limit",
        ),
        (
            {"name": "X", "email": "a@b.example", "currency": "USD", "payment_term_days": -1},
            "payment_term_days",
        ),
    ],
    ids=[
        "no-name",
        "bad-email",
        "bad-currency",
        "bad-mode",
        "credit-without-limit",
        "limit-in-prepaid",
        "negative-term",
    ],
)
def test_bad_client_input_is_400_naming_the_field_and_creates_nothing(staff_api, body, field):
    response = staff_api.post("/api/v1/clients/", body, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not BillingAccount.objects.exists()


def test_add_portal_login_to_client(staff_api, account):
    response = staff_api.post(
        f"/api/v1/clients/{account.client_id}/users/",
        {
            "username": "jane",
            "email": "jane@client.example",
            "password": "a long enough passphrase 42",
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "jane"
    assert body["client"] == account.client_id
    assert "password" not in body
    assert ClientUser.objects.get(user__username="jane").client_id == account.client_id


def test_new_portal_login_can_read_its_account_through_the_api(staff_api, account):
    staff_api.post(
        f"/api/v1/clients/{account.client_id}/users/",
        {"username": "jane", "password": "a long enough passphrase 42"},
        format="json",
    )
    jane = get_user_model().objects.get(username="jane")

    assert client_for(jane).get(f"/api/v1/accounts/{account.pk}/").status_code == 200


@pytest.mark.parametrize("password", ["short", "12345678901", "password123"])
def test_weak_password_is_400_on_password(staff_api, account, password):
    response = staff_api.post(
        f"/api/v1/clients/{account.client_id}/users/",
        {"username": "jane", "password": password},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "password"
    assert not get_user_model().objects.filter(username="jane").exists()


def test_taken_username_is_400_on_username(staff_api, account):
    body = {"username": "jane", "password": "a long enough passphrase 42"}
    staff_api.post(f"/api/v1/clients/{account.client_id}/users/", body, format="json")

    response = staff_api.post(f"/api/v1/clients/{account.client_id}/users/", body, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "username"


def test_mode_conversion_answers_the_account_after_it(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/mode/",
        {"payment_mode": "credit_limit", "credit_limit": "50", "reason": "good payer"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["payment_mode"] == "credit_limit"
    assert body["usable"]["amount"] == "150.000000"
    change = PaymentModeChange.objects.get(account=account)
    assert (change.from_mode, change.to_mode, change.reason) == (
        "prepaid",
        "credit_limit",
        "good payer",
    )


def test_mode_conversion_to_credit_without_limit_is_400_with_a_clear_detail(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/mode/",
        {"payment_mode": "credit_limit", "reason": "why not"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_mode_change"
    assert response.json()["field"] == "credit_limit"
    assert "greater than zero" in response.json()["detail"]
    assert BillingAccount.objects.get(pk=account.pk).payment_mode == PaymentMode.PREPAID


def test_mode_conversion_needs_a_reason(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/mode/", {"payment_mode": "postpaid"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "reason"


def test_back_to_prepaid_clears_the_limit(staff_api):
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")

    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/mode/",
        {"payment_mode": "prepaid", "reason": "late payer"},
        format="json",
    )

    assert response.json()["credit_limit"] is None
    assert response.json()["usable"]["amount"] == "0.000000"
