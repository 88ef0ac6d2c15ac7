"""A plan is always sold in one currency: the service, the database, the admin and the API."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from billing_site.exceptions import InvalidInput
from subscriptions.models import Plan
from subscriptions.services import add_on_create, plan_create
from tests.api.conftest import client_for, new_key
from tests.factories import AccountFactory, staff_user
from tests.html import parse

from .helpers import on, order

pytestmark = pytest.mark.django_db

ADD = "/admin/subscriptions/plan/add/"


def change_url(plan):
    return f"/admin/subscriptions/plan/{plan.pk}/change/"


@pytest.fixture
def clerk(client):
    client.force_login(staff_user("Billing staff"))
    return client


@pytest.fixture
def any_currency_add_on(db):
    """Priced in each account's own currency (an add-on may leave its currency empty)."""
    return add_on_create(code="backup", name="Daily backups", price="5")


def plan_form(**fields):
    return {
        "code": "cloud",
        "name": "Cloud",
        "price": "12",
        "currency": "EUR",
        "charging": "prepay",
        "trial_days": "0",
        "active": "on",
        **fields,
    }


# -- the service and the database -------------------------------------------------------


def test_a_plan_without_a_currency_is_refused_by_the_service():
    with pytest.raises(InvalidInput) as refused:
        plan_create(code="any", name="Any", price="7", currency="")
    assert refused.value.field == "currency"
    assert not Plan.objects.exists()


def test_the_database_refuses_a_plan_without_an_iso_currency():
    for currency in ("", "usd", "US"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Plan.objects.create(code=f"raw-{currency}", name="Raw", price=1, currency=currency)


def test_a_plan_is_sold_only_in_its_currency():
    euro = plan_create(code="euro", name="Euro", price="9", currency="EUR")
    assert euro.sold_in("EUR")
    assert not euro.sold_in("USD")


def test_a_plan_may_offer_an_add_on_priced_in_any_currency(any_currency_add_on):
    plan = plan_create(code="euro", name="Euro", price="9", currency="EUR", add_ons=["backup"])
    assert list(plan.add_ons.all()) == [any_currency_add_on]


# -- the admin ----------------------------------------------------------------------------


def currency_input(html):
    return parse(html).find("input", name="currency")


def test_the_add_form_asks_for_the_currency_and_creates_the_plan_in_it(clerk):
    field = currency_input(clerk.get(ADD).content)
    assert field is not None
    assert "required" in field.attrs

    response = clerk.post(ADD, plan_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Plan.objects.get(code="cloud").currency == "EUR"


def test_the_add_form_refuses_an_unknown_currency(clerk):
    response = clerk.post(ADD, plan_form(currency="XYZ"))
    assert response.status_code == 200
    errors = parse(response.content).find("div", class_="form-row errors field-currency")
    assert errors is not None
    assert "ISO 4217" in errors.find("ul", class_="errorlist").text
    assert not Plan.objects.exists()


def test_the_change_form_edits_the_currency_of_a_plan_nobody_bought(clerk):
    plan = plan_create(code="cloud", name="Cloud", price="12", currency="USD")
    field = currency_input(clerk.get(change_url(plan)).content)
    assert field is not None
    assert field.attrs["value"] == "USD"

    response = clerk.post(change_url(plan), plan_form(currency="eur"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Plan.objects.get(pk=plan.pk).currency == "EUR"


def test_the_currency_cannot_move_away_from_the_accounts_that_bought_the_plan(clerk):
    plan = plan_create(code="cloud", name="Cloud", price="12", currency="USD")
    with on("2026-06-01", hour=1):
        buyer = AccountFactory(currency="USD", funds="100")
    order(buyer, plan, "2026-06-11")

    response = clerk.post(change_url(plan), plan_form(currency="EUR"))

    assert response.status_code == 200
    errors = parse(response.content).find("div", class_="form-row errors field-currency")
    assert errors is not None
    assert "USD" in errors.find("ul", class_="errorlist").text
    assert Plan.objects.get(pk=plan.pk).currency == "USD"


def test_a_plan_offering_an_any_currency_add_on_saves_in_the_admin(clerk, any_currency_add_on):
    plan = plan_create(code="cloud", name="Cloud", price="12", currency="EUR", add_ons=["backup"])

    response = clerk.post(change_url(plan), plan_form(price="13", add_ons=[any_currency_add_on.pk]))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Plan.objects.get(pk=plan.pk).price == Decimal("13")


# -- the API ------------------------------------------------------------------------------


@pytest.fixture
def staff_api(db):
    return client_for(staff_user("Billing staff"))


def post_plan(api, body):
    return api.post("/api/v1/plans/", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())


def test_the_api_refuses_a_plan_without_a_currency(staff_api):
    response = post_plan(staff_api, {"code": "any", "name": "Any", "price": "7"})

    assert response.status_code == 400
    assert response.json()["field"] == "currency"
    assert "currency" in response.json()["detail"]
    assert not Plan.objects.exists()


def test_the_api_takes_the_currency_from_the_field_or_the_money_object(staff_api):
    by_field = post_plan(
        staff_api, {"code": "a", "name": "A", "price": "7", "currency": "eur"}
    ).json()
    by_money = post_plan(
        staff_api, {"code": "b", "name": "B", "price": {"amount": "7", "currency": "GBP"}}
    ).json()

    assert by_field["price"] == {"amount": "7.000000", "currency": "EUR"}
    assert by_money["price"] == {"amount": "7.000000", "currency": "GBP"}
    assert by_field["currency"] == "EUR"


def test_a_plan_is_not_sold_to_an_account_in_another_currency(staff_api):
    assert post_plan(staff_api, {"code": "eu", "name": "EU", "price": "7", "currency": "EUR"})
    with on("2026-06-01", hour=1):
        dollars = AccountFactory(currency="USD", funds="50")
    with on("2026-06-11"):
        ordered = staff_api.post(
            f"/api/v1/accounts/{dollars.pk}/subscriptions/",
            {"plan": "eu"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=new_key(),
        )
    assert ordered.status_code == 400
    assert ordered.json()["field"] == "plan"
    assert "EUR" in ordered.json()["detail"]
