"""Every API and portal URL that takes an object id answers 404 to another client's login.

The URL patterns are discovered from the resolver, so a new endpoint is covered as soon
as it exists; a pattern whose id this test does not know fails loudly, to be added to
`ID_KINDS` (API) or `PORTAL_KINDS` (portal) below.
"""

import re
import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.services import client_add_user
from api.services import api_key_create
from approvals.services import manual_operation_open_postpaid
from invoicing.models import Invoice, Payment
from ledger.services import ledger_reserve, lock_books
from subscriptions.models import PaymentPurpose
from subscriptions.services import plan_create, subscription_order
from subscriptions.services.payments import open_request
from tests.factories import AccountFactory
from tests.invoicing.helpers import at, charge, run_cycle

pytestmark = pytest.mark.django_db

# URL kwarg → the kind of object it names (API).
ID_KINDS = {
    "client_id": "client",
    "account_id": "account",
    "reservation_id": "reservation",
    "invoice_id": "invoice",
    "payment_id": "payment",
    "subscription_id": "subscription",
    "request_id": "payment_request",
    "operation_id": "manual_operation",
}
# Portal routes use `pk`; the first path segment says what it is.
PORTAL_KINDS = {"invoices": "invoice", "subscriptions": "subscription"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _routes(prefix):
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith(prefix):
            continue
        converters = getattr(pattern.pattern, "converters", {})
        if converters:
            routes.append((route, list(converters)))
    return routes


API_ROUTES = _routes("api/v1/")
PORTAL_ROUTES = _routes("portal/")


def test_the_walk_finds_the_id_taking_endpoints():
    api = {route for route, _ in API_ROUTES}
    assert "api/v1/accounts/<int:account_id>/" in api
    assert "api/v1/invoices/<int:invoice_id>/" in api
    assert len(API_ROUTES) >= 10
    if PORTAL_ROUTES:
        assert any("invoices" in route for route, _ in PORTAL_ROUTES)


def _kind(route, name, *, portal):
    if portal and name == "pk":
        segment = route.split("/")[1]
        kind = PORTAL_KINDS.get(segment)
    else:
        kind = ID_KINDS.get(name)
    if kind is None:
        pytest.fail(
            f"{route!r} takes {name!r}, whose kind of object this test does not know: "
            "add it to ID_KINDS / PORTAL_KINDS so another client's id is tried."
        )
    return kind


def _url(route, ids, *, portal):
    url = "/" + route
    for name in _names(route):
        kind = _kind(route, name, portal=portal)
        url = url.replace(f"<int:{name}>", str(ids[kind])).replace(f"<{name}>", str(ids[kind]))
    return url


def _names(route):
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


def _objects_of(account, plan):
    """One object of every kind for `account`'s client, made through the services."""
    charge(account, "30", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")  # credit-limit: the October invoice is approved, a payment waits
    invoice = Invoice.objects.get(account=account)
    payment = Payment.objects.get(invoice=invoice)
    reservation = ledger_reserve(
        account_id=account.pk, amount="5", idempotency_key=str(uuid.uuid4())
    ).reservation
    subscription = subscription_order(account_id=account.pk, plan=plan, trial=True)
    with transaction.atomic():
        lock_books(account.pk)
        request = open_request(
            subscription,
            purpose=PaymentPurpose.values[0],
            amount=Decimal("7"),
            gateway="bank_transfer",
        )
        operation = manual_operation_open_postpaid(account_id=account.pk, requested_by=None)
    return {
        "client": account.client_id,
        "account": account.pk,
        "invoice": invoice.pk,
        "payment": payment.pk,
        "reservation": reservation.pk,
        "subscription": subscription.pk,
        "payment_request": request.pk,
        "manual_operation": operation.pk,
    }


@pytest.fixture
def two_clients():
    plan = plan_create(code="basic", name="Basic", price="10", currency="USD", trial_days=14)
    mine = AccountFactory(payment_mode="credit_limit", credit_limit="1000", funds="50")
    theirs = AccountFactory(payment_mode="credit_limit", credit_limit="1000", funds="50")
    user = client_add_user(
        client_id=mine.client_id,
        username="alice",
        email="alice@example.com",
        password="a long enough passphrase 42",
    )
    return {"user": user, "mine": _objects_of(mine, plan), "theirs": _objects_of(theirs, plan)}


def _api(user):
    _, raw_key = api_key_create(user=user, name="cross-client test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client


def test_every_api_url_with_another_clients_ids_is_404(two_clients):
    api = _api(two_clients["user"])
    problems, checked = [], 0
    for route, _ in API_ROUTES:
        url = _url(route, two_clients["theirs"], portal=False)
        for method in ("get", "post"):
            response = getattr(api, method)(
                url, {}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
            )
            if response.status_code == 405:
                continue  # the endpoint has no such method, whoever asks
            body = (
                response.json()
                if response.get("Content-Type", "").startswith("application/json")
                else None
            )
            checked += 1
            if response.status_code != 404 or not body or body.get("error") != "not_found":
                problems.append(f"{method.upper()} {url}: {response.status_code} {body}")
    assert not problems, "\n".join(problems)
    assert checked >= len(API_ROUTES)  # every route answered at least one method


def test_portal_urls_with_another_clients_ids_are_404(client, two_clients):
    assert PORTAL_ROUTES, "the portal's id-taking URLs were not discovered"
    client.force_login(two_clients["user"])
    problems, checked = [], 0
    for route, _ in PORTAL_ROUTES:
        url = _url(route, two_clients["theirs"], portal=True)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if response.status_code == 405:
                continue
            checked += 1
            if response.status_code != 404:
                problems.append(f"{method.upper()} {url}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert checked >= len(PORTAL_ROUTES)


def test_the_same_urls_with_the_clients_own_ids_are_not_404(client, two_clients):
    """The check above means something: the own ids resolve (some answer 200 or 400)."""
    api = _api(two_clients["user"])
    found = [
        route
        for route, _n in API_ROUTES
        if api.get(_url(route, two_clients["mine"], portal=False)).status_code not in (404,)
    ]
    assert "api/v1/accounts/<int:account_id>/" in found
    assert "api/v1/invoices/<int:invoice_id>/" in found
    if PORTAL_ROUTES:
        client.force_login(two_clients["user"])
        own = [
            route
            for route, _n in PORTAL_ROUTES
            if client.get(_url(route, two_clients["mine"], portal=True)).status_code != 404
        ]
        assert any("invoices/<int:pk>/" in route for route in own)
