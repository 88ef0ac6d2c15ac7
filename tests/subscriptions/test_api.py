"""The HTTP API for plans, orders, subscriptions, upsells and payment requests."""

from decimal import Decimal

import pytest

from accounts.services import client_add_user
from subscriptions.models import PaymentRequest, Subscription
from tests.api.conftest import client_for, new_key
from tests.factories import AccountFactory, UserFactory, staff_user

from .helpers import balance, on, order

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(db):
    return client_for(staff_user("Billing staff"))


@pytest.fixture
def account(db):
    with on("2026-06-01", hour=1):
        return AccountFactory(funds="100")


@pytest.fixture
def portal_api(account):
    user = client_add_user(
        client_id=account.client_id,
        username="portal",
        email="portal@client.example",
        password="a long enough passphrase 42",
    )
    return client_for(user)


def post(api, url, body, *, key=None, day="2026-06-11"):
    with on(day):
        return api.post(
            f"/api/v1/{url}", body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key()
        )


# -- plans -------------------------------------------------------------------------------


def test_staff_create_and_list_plans_with_money_in_json(staff_api, static_ip):
    response = post(
        staff_api,
        "plans/",
        {
            "code": "cloud",
            "name": "Cloud",
            "price": {"amount": "12.5", "currency": "USD"},
            "charging": "postpay",
            "trial_days": 7,
            "add_ons": ["static-ip"],
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["price"] == {"amount": "12.500000", "currency": "USD"}
    assert (body["charging"], body["trial_days"], body["add_ons"]) == ("postpay", 7, ["static-ip"])

    listed = staff_api.get("/api/v1/plans/").json()["results"]
    assert [p["code"] for p in listed] == ["cloud"]


def test_a_plans_code_is_unique_and_its_currency_known(staff_api, basic):
    taken = post(
        staff_api, "plans/", {"code": "basic", "name": "B", "price": "1", "currency": "USD"}
    )
    assert taken.status_code == 400
    assert (taken.json()["field"], "exists" in taken.json()["detail"]) == ("code", True)
    unknown = post(staff_api, "plans/", {"code": "x", "name": "X", "price": "1", "currency": "XYZ"})
    assert (unknown.status_code, unknown.json()["field"]) == (400, "currency")


def test_plans_are_for_staff_only(portal_api, basic):
    assert portal_api.get("/api/v1/plans/").status_code == 403
    refused = post(
        portal_api, "plans/", {"code": "x", "name": "X", "price": "1", "currency": "USD"}
    )
    assert refused.status_code == 403


# -- orders ------------------------------------------------------------------------------


def test_ordering_a_prepay_plan_answers_201_active_and_charges(staff_api, account, basic):
    response = post(staff_api, f"accounts/{account.pk}/subscriptions/", {"plan": "basic"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["plan"], body["paid_until"]) == ("active", "basic", "2026-06-30")
    assert body["monthly_price"] == {"amount": "10.000000", "currency": "USD"}
    assert balance(account) == Decimal("93.333333")


def test_an_order_needs_an_idempotency_key_and_a_retry_books_once(staff_api, account, basic):
    url = f"accounts/{account.pk}/subscriptions/"
    with on("2026-06-11"):
        missing = staff_api.post(f"/api/v1/{url}", {"plan": "basic"}, format="json")
    assert missing.status_code == 400

    key = new_key()
    first = post(staff_api, url, {"plan": "basic"}, key=key)
    again = post(staff_api, url, {"plan": "basic"}, key=key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert Subscription.objects.count() == 1
    assert balance(account) == Decimal("93.333333")


def test_an_order_the_funds_do_not_cover_is_402(staff_api, db, basic):
    poor = AccountFactory(funds="1")
    response = post(staff_api, f"accounts/{poor.pk}/subscriptions/", {"plan": "basic"})
    assert response.status_code == 402
    assert response.json()["error"] == "insufficient_funds"
    assert not Subscription.objects.exists()


def test_a_prepaid_account_ordering_postpay_is_400_convert_first(staff_api, account, metered):
    response = post(staff_api, f"accounts/{account.pk}/subscriptions/", {"plan": "metered"})
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"]) == ("postpaid_mode_required", "plan")
    assert "convert the account to postpaid or credit limit first" in body["detail"]


def test_an_unknown_plan_is_400(staff_api, account):
    response = post(staff_api, f"accounts/{account.pk}/subscriptions/", {"plan": "nope"})
    assert (response.status_code, response.json()["field"]) == (400, "plan")


def test_a_trial_order_answers_active_with_its_end(staff_api, account, basic):
    response = post(
        staff_api, f"accounts/{account.pk}/subscriptions/", {"plan": "basic", "trial": True}
    )
    assert response.status_code == 201
    assert (response.json()["is_trial"], response.json()["trial_ends_on"]) == (True, "2026-06-25")


# -- a client's login ------------------------------------------------------------------


def test_a_client_login_orders_and_lists_its_own_subscriptions(portal_api, account, basic):
    assert (
        post(portal_api, f"accounts/{account.pk}/subscriptions/", {"plan": "basic"}).status_code
        == 201
    )
    listed = portal_api.get(f"/api/v1/accounts/{account.pk}/subscriptions/")
    assert listed.status_code == 200
    assert [s["plan"] for s in listed.json()["results"]] == ["basic"]


def test_another_clients_subscriptions_are_404_to_a_client_login(portal_api, basic):
    other = AccountFactory(funds="100")
    theirs = order(other, basic, "2026-06-11")
    assert portal_api.get(f"/api/v1/accounts/{other.pk}/subscriptions/").status_code == 404
    assert (
        post(portal_api, f"accounts/{other.pk}/subscriptions/", {"plan": "basic"}).status_code
        == 404
    )
    assert portal_api.get(f"/api/v1/subscriptions/{theirs.pk}/").status_code == 404
    upsell = post(portal_api, f"subscriptions/{theirs.pk}/upsell/", {"add_on": "static-ip"})
    assert upsell.status_code == 404
    assert Subscription.objects.count() == 1


def test_a_key_without_the_permission_is_403(account, basic):
    api = client_for(UserFactory())
    assert api.get(f"/api/v1/accounts/{account.pk}/subscriptions/").status_code == 403


# -- upsell and payment requests -------------------------------------------------------


def test_quote_then_upgrade_from_the_balance(staff_api, account, basic, pro):
    subscription = order(account, basic, "2026-06-01")
    with on("2026-06-11"):
        quote = staff_api.get(f"/api/v1/subscriptions/{subscription.pk}/upsell-quote/?plan=pro")
    assert quote.status_code == 200
    assert quote.json()["amount"] == {"amount": "20.000000", "currency": "USD"}

    response = post(staff_api, f"subscriptions/{subscription.pk}/upsell/", {"plan": "pro"})
    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["to_plan"]) == ("applied", "pro")


def test_a_client_pays_an_upgrade_by_bank_transfer_and_staff_confirm_it(
    portal_api, staff_api, account, basic, pro
):
    subscription = order(account, basic, "2026-06-01")
    response = post(
        portal_api,
        f"subscriptions/{subscription.pk}/upsell/",
        {"plan": "pro", "pay_with": "gateway", "gateway": "bank_transfer"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending_payment"
    request = body["payment_request"]
    assert (request["status"], request["amount"]["amount"]) == ("pending", "20.000000")
    assert request["reference"] in request["instructions"]

    assert post(portal_api, f"payment-requests/{request['id']}/confirm/", {}).status_code == 403
    confirmed = post(staff_api, f"payment-requests/{request['id']}/confirm/", {}, day="2026-06-11")
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["status"] == "succeeded"
    detail = staff_api.get(f"/api/v1/subscriptions/{subscription.pk}/").json()
    assert detail["plan"] == "pro"

    twice = post(staff_api, f"payment-requests/{request['id']}/confirm/", {})
    assert (twice.status_code, twice.json()["error"]) == (409, "invalid_transition")


def test_a_client_cannot_pay_through_the_test_gateway(portal_api, account, basic, pro):
    subscription = order(account, basic, "2026-06-01")
    response = post(
        portal_api,
        f"subscriptions/{subscription.pk}/upsell/",
        {"plan": "pro", "pay_with": "gateway", "gateway": "test"},
    )
    assert response.status_code == 403
    assert not PaymentRequest.objects.exists()


def test_an_upsell_naming_both_a_plan_and_an_add_on_is_400(staff_api, account, basic):
    subscription = order(account, basic, "2026-06-01")
    response = post(
        staff_api, f"subscriptions/{subscription.pk}/upsell/", {"plan": "pro", "add_on": "x"}
    )
    assert (response.status_code, response.json()["field"]) == (400, "plan")
