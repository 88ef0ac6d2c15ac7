"""Amounts: the ledger's rules at the door, a 400 naming the field, nothing written."""

import json
from decimal import Decimal

import pytest

from accounts.models import BillingAccount, PaymentModeChange
from ledger.models import Entry, Reservation
from subscriptions.models import Plan
from tests.factories import staff_user

from .conftest import client_for, new_key

pytestmark = pytest.mark.django_db

BAD_AMOUNTS = {
    "negative": '"-5"',
    "zero": '"0"',
    "zero-number": "0",
    "nan-string": '"NaN"',
    "infinity-string": '"Infinity"',
    "huge-exponent": '"1e9999"',
    "huge-exponent-number": "1e9999",
    "seven-places": '"1.0000001"',
    "seven-places-number": "1.0000001",
    "not-a-number": '"twelve"',
    "empty": '""',
    "null": "null",
    "boolean": "true",
    "list": '["1"]',
    "object-without-amount": '{"currency": "USD"}',
}
MONEY_POSTS = ["charges", "reservations", "payments"]


def _post_raw(api, path, body: str, key=None):
    return api.post(
        path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key or new_key()
    )


def _nothing_written(account):
    return (
        Entry.objects.filter(account=account).count() == 1  # the initial funds
        and not Reservation.objects.filter(account=account).exists()
    )


@pytest.mark.parametrize("endpoint", MONEY_POSTS)
@pytest.mark.parametrize("amount", BAD_AMOUNTS.values(), ids=BAD_AMOUNTS.keys())
def test_bad_amount_is_400_naming_the_field_and_writes_nothing(
    staff_api, account, endpoint, amount
):
    response = _post_raw(
        staff_api, f"/api/v1/accounts/{account.pk}/{endpoint}/", f'{{"amount": {amount}}}'
    )

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert body["field"] == "amount"
    assert body["detail"]
    assert _nothing_written(account)


@pytest.mark.parametrize("endpoint", MONEY_POSTS)
def test_missing_amount_is_400_naming_the_field(staff_api, account, endpoint):
    response = _post_raw(staff_api, f"/api/v1/accounts/{account.pk}/{endpoint}/", "{}")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid",
        "detail": "“amount” is required.",
        "field": "amount",
    }
    assert _nothing_written(account)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_constants_are_refused_naming_the_field(staff_api, account, constant):
    response = _post_raw(
        staff_api, f"/api/v1/accounts/{account.pk}/charges/", f'{{"amount": {constant}}}'
    )

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert response.json()["field"] == "amount"
    assert _nothing_written(account)


def test_malformed_json_is_400_parse_error(staff_api, account):
    response = _post_raw(staff_api, f"/api/v1/accounts/{account.pk}/charges/", '{"amount": ')

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert _nothing_written(account)


@pytest.mark.parametrize(
    "body",
    [
        '{"amount": "12.5"}',
        '{"amount": 12.5}',
        '{"amount": "12.5", "currency": "USD"}',
        '{"amount": {"amount": "12.5", "currency": "USD"}}',
        '{"amount": {"amount": 12.5}}',
        '{"amount": "12.500000"}',
    ],
    ids=["string", "number", "currency-beside", "money-object", "object-number", "six-places"],
)
def test_every_accepted_amount_shape_books_exactly_the_amount(staff_api, account, body):
    response = _post_raw(staff_api, f"/api/v1/accounts/{account.pk}/charges/", body)

    assert response.status_code == 201, response.content
    assert response.json()["amount"] == {"amount": "12.500000", "currency": "USD"}
    entry = Entry.objects.get(pk=response.json()["id"])
    assert str(entry.amount) == "-12.500000"


def test_json_number_is_never_rounded_through_a_float(staff_api, account):
    # 0.1 + 0.2 as floats is 0.30000000000000004; as decimals it is exact.
    response = _post_raw(
        staff_api, f"/api/v1/accounts/{account.pk}/charges/", '{"amount": 0.300001}'
    )

    assert response.status_code == 201
    assert Entry.objects.get(pk=response.json()["id"]).amount == Decimal("-0.300001")


@pytest.mark.parametrize("endpoint", MONEY_POSTS)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "5", "currency": "EUR"}, "currency"),
        ({"amount": {"amount": "5", "currency": "EUR"}}, "amount"),
    ],
    ids=["currency-beside", "money-object"],
)
def test_another_currency_is_400_and_books_nothing(staff_api, account, endpoint, body, field):
    response = _post_raw(staff_api, f"/api/v1/accounts/{account.pk}/{endpoint}/", json.dumps(body))

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert "USD" in response.json()["detail"]
    assert "EUR" in response.json()["detail"]
    assert _nothing_written(account)


def test_commit_in_another_currency_is_400(staff_api, account):
    hold = staff_api.post(
        f"/api/v1/accounts/{account.pk}/reservations/",
        {"amount": "5"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    ).json()

    response = _post_raw(
        staff_api,
        f"/api/v1/reservations/{hold['id']}/commit/",
        '{"amount": {"amount": "5", "currency": "EUR"}}',
    )

    assert response.status_code == 400
    assert response.json()["field"] == "amount"
    assert Reservation.objects.get(pk=hold["id"]).status == "pending"


def test_credit_limit_in_another_currency_is_400_and_mode_unchanged(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/mode/",
        {
            "payment_mode": "credit_limit",
            "credit_limit": {"amount": "50", "currency": "EUR"},
            "reason": "trusted",
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "credit_limit"
    assert not PaymentModeChange.objects.filter(account=account).exists()


def test_money_is_answered_as_a_six_place_string_with_currency(staff_api, account):
    response = staff_api.get(f"/api/v1/accounts/{account.pk}/")

    body = response.json()
    for figure in ("balance", "unbilled", "amount_due", "reserved", "usable"):
        assert set(body[figure]) == {"amount", "currency"}
        assert isinstance(body[figure]["amount"], str)
        assert len(body[figure]["amount"].split(".")[1]) == 6
        assert body[figure]["currency"] == "USD"


@pytest.mark.parametrize("endpoint", MONEY_POSTS)
@pytest.mark.parametrize(
    "amount",
    ["\u0663", "\uff11", "\uff11\uff10.5", "1_0", "1_000", " 1 0", "\u00a05"],
    ids=["arabic-indic", "fullwidth", "fullwidth-fraction", "underscore", "underscores",
         "inner-space", "no-break-space"],
)  # fmt: skip
def test_amount_in_other_digits_or_with_separators_is_400_naming_the_field(
    staff_api, account, endpoint, amount
):
    response = _post_raw(
        staff_api,
        f"/api/v1/accounts/{account.pk}/{endpoint}/",
        json.dumps({"amount": amount}),
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert response.json()["field"] == "amount"
    assert "0-9" in response.json()["detail"]
    assert _nothing_written(account)


@pytest.mark.parametrize("endpoint", MONEY_POSTS)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "5", "currency": "XXX"}, "currency"),
        ({"amount": "5", "currency": "XAU"}, "currency"),
        ({"amount": {"amount": "5", "currency": "XTS"}}, "amount"),
        ({"amount": {"amount": "5", "currency": "XDR"}}, "amount"),
    ],
    ids=["xxx-beside", "gold-beside", "testing-code-object", "sdr-object"],
)
def test_a_non_tender_currency_with_an_amount_is_400_saying_so(
    staff_api, account, endpoint, body, field
):
    response = _post_raw(staff_api, f"/api/v1/accounts/{account.pk}/{endpoint}/", json.dumps(body))

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert "not a currency" in response.json()["detail"]
    assert _nothing_written(account)


@pytest.mark.parametrize("code", ["XXX", "XAU", "XAG", "XPD", "XPT", "XDR", "XTS", "XBA", "XSU",
                                  "XUA", "CLF", "QQQ"])  # fmt: skip
def test_a_client_in_a_non_tender_currency_is_400_and_nothing_is_created(staff_api, code):
    response = staff_api.post(
        "/api/v1/clients/",
        {"name": "Gold Hoarders", "email": "gold@client.example", "currency": code},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "currency"
    assert code in response.json()["detail"]
    assert not BillingAccount.objects.filter(currency=code).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"price": "10", "currency": "XXX"},
        {"price": "10", "currency": "XAU"},
        {"price": {"amount": "10", "currency": "XPT"}},
        {"price": {"amount": "10", "currency": "XTS"}},
    ],
    ids=["xxx", "gold", "platinum-in-price", "testing-in-price"],
)
def test_a_plan_in_a_non_tender_currency_is_400_and_nothing_is_created(body):
    api = client_for(staff_user("Billing staff"))

    response = api.post(
        "/api/v1/plans/",
        {"code": "bullion", "name": "Bullion", **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )

    assert response.status_code == 400, response.content
    assert response.json()["field"] in ("currency", "price")
    assert not Plan.objects.filter(code="bullion").exists()
