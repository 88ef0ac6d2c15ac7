"""Hostile or odd input anywhere in the API: a clear 4xx JSON error, never a 500 or HTML.

Every answer under /api/v1/ is `{"error", "detail", "field"?}` with the status that
names the problem; the admin and the portal keep their HTML pages.
"""

import json
import re
import uuid

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from api.services import api_key_create
from ledger.models import Entry
from tests.factories import staff_user

from .conftest import client_for

pytestmark = pytest.mark.django_db

BIGINT_PAST_MAX = "9223372036854775808"  # 2**63: one past PostgreSQL's bigint
LIST_URLS = [
    "/api/v1/accounts/",
    "/api/v1/invoices/",
    "/api/v1/plans/",
    "/api/v1/add-ons/",
    "/api/v1/manual-operations/",
    "/api/v1/webhooks/",
]


@pytest.fixture
def api():
    """A key of a user in both staff groups: every endpoint is open to it."""
    return client_for(staff_user("Billing staff", "Managers"))


def _routes():
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    return [
        (route, pattern)
        for route, pattern in walk(get_resolver().url_patterns)
        if route.startswith("api/v1/") and route.endswith("/") and "^" not in route
    ]


def _url(route: str, object_id: int) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", str(object_id), route)


def _post_urls():
    urls = []
    for route, pattern in _routes():
        view_class = getattr(pattern.callback, "cls", None)
        if view_class is not None and hasattr(view_class, "post"):
            urls.append(_url(route, 1))
    return urls


def assert_json_error(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) <= {"error", "detail", "field"}, body
    assert body["error"] and body["detail"], body
    if code is not None:
        assert body["error"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


# -- OPTIONS -----------------------------------------------------------------------


def test_the_walk_finds_the_post_endpoints():
    urls = _post_urls()
    assert "/api/v1/clients/" in urls
    assert "/api/v1/accounts/1/charges/" in urls
    assert len(urls) >= 15


@pytest.mark.parametrize("url", _post_urls())
def test_options_with_a_valid_key_describes_a_post_endpoint(api, url):
    response = api.options(url)

    assert response.status_code == 200, (url, response.content[:300])
    assert response["Content-Type"] == "application/json"
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert {"POST", "OPTIONS"} <= allowed
    body = response.json()
    assert body["name"]
    assert "application/json" in body["renders"]
    assert body["schema"] == "/api/v1/schema/"


def test_options_books_nothing_and_needs_a_key(api):
    before = Entry.objects.count()
    assert api.options("/api/v1/accounts/1/charges/").status_code == 200
    assert Entry.objects.count() == before

    assert_json_error(APIClient().options("/api/v1/accounts/1/charges/"), 401)


# -- pagination --------------------------------------------------------------------


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_page_bound_past_the_database_range_is_400(api, url, param):
    response = api.get(url, {param: BIGINT_PAST_MAX})

    body = assert_json_error(response, 400, "invalid", param)
    assert param in body["detail"]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "null", ""])
def test_a_limit_that_is_not_a_positive_whole_number_is_400(api, value):
    assert_json_error(api.get("/api/v1/accounts/", {"limit": value}), 400, "invalid", "limit")


@pytest.mark.parametrize("value", ["abc", "-1", "null"])
def test_an_offset_that_is_not_a_whole_number_is_400(api, value):
    assert_json_error(api.get("/api/v1/plans/", {"offset": value}), 400, "invalid", "offset")


def test_a_limit_above_the_largest_page_is_400_naming_the_maximum(api):
    from api.pagination import MAX_LIMIT

    body = assert_json_error(
        api.get("/api/v1/accounts/", {"limit": MAX_LIMIT + 1}), 400, "invalid", "limit"
    )
    assert f"{MAX_LIMIT:,}" in body["detail"]


def test_valid_page_bounds_still_page(api, account, other_account):
    first = api.get("/api/v1/accounts/", {"limit": 1})
    second = api.get("/api/v1/accounts/", {"limit": 1, "offset": 1})

    assert first.status_code == second.status_code == 200
    assert first.json()["count"] == 2
    assert len(first.json()["results"]) == len(second.json()["results"]) == 1
    assert first.json()["results"][0]["id"] != second.json()["results"][0]["id"]
    assert "offset=1" in first.json()["next"]


# -- bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000, "[" * 3000 + "]" * 3000])
def test_deeply_nested_json_is_400_and_books_nothing(api, account, body):
    response = api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert_json_error(response, 400, "parse_error")
    assert not Entry.objects.filter(account=account, kind="charge").exists()


@pytest.mark.parametrize("number", ["1e99999999999999999999999", "-1.5e-99999999999999999999"])
def test_a_number_past_what_a_decimal_holds_is_400_and_books_nothing(api, account, number):
    """Python's Decimal raises InvalidOperation (not a ValueError) on such exponents."""
    response = api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        '{"amount": ' + number + ', "description": "x"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert_json_error(response, 400, "parse_error")
    assert not Entry.objects.filter(account=account, kind="charge").exists()


def test_nesting_that_real_requests_use_still_parses(api, account):
    response = api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": {"amount": "2.50", "currency": "USD"}, "description": "nested money"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert response.status_code == 201, response.content


def _oversized_json() -> str:
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    return json.dumps({"amount": "1", "description": padding})


@pytest.mark.parametrize(
    "url",
    ["/api/v1/accounts/{account}/charges/", "/api/v1/clients/", "/api/v1/payments/1/approve/"],
)
def test_a_json_body_over_the_upload_limit_is_413_and_books_nothing(api, account, url):
    response = api.post(
        url.format(account=account.pk),
        _oversized_json(),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    body = assert_json_error(response, 413, "request_too_large")
    assert (
        "2.5 MB" in body["detail"] or f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}" in body["detail"]
    )
    assert not Entry.objects.filter(account=account, kind="charge").exists()


def test_a_patch_over_the_upload_limit_is_413(api):
    response = api.patch("/api/v1/settings/", _oversized_json(), content_type="application/json")

    assert_json_error(response, 413, "request_too_large")


def test_a_multipart_field_over_the_upload_limit_is_413(api, account):
    response = api.post(
        "/api/v1/invoices/receipt/",
        {
            "account": str(account.pk),
            "period_start": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        },
        format="multipart",
    )

    assert_json_error(response, 413, "request_too_large")


def test_a_body_at_the_limit_is_read_as_usual(api, account):
    description = "x" * 300
    body = json.dumps({"amount": "1", "description": description})
    body += " " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - len(body))
    assert len(body) == settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert response.status_code == 201, response.content[:300]


# -- pages that are not views of the API ------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing/", "/api/v1/payments/-2/approve/", "/api/v1/accounts/x/"]
)
def test_a_post_to_an_unknown_api_path_is_a_json_404_even_with_csrf_checks(path):
    client = Client(enforce_csrf_checks=True)

    response = client.post(path, "{}", content_type="application/json")

    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/api/", "/api/v2/accounts/", "/api", "/api/v1/invoices/%0A/pdf/"]
)
def test_unknown_paths_under_api_are_json_404s(path):
    assert_json_error(Client().get(path), 404, "not_found")


def test_token_posts_never_meet_the_csrf_check(account):
    _, raw_key = api_key_create(user=staff_user("Billing staff"), name="csrf")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {raw_key}")

    response = client.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": "1", "description": "no csrf token needed"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert response.status_code == 201, response.content


def test_a_session_without_a_key_gets_a_json_401_not_a_csrf_page(account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user("Billing staff", "Managers"))

    response = client.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": "1"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert_json_error(response, 401)


def test_a_csrf_failure_under_the_api_answers_json():
    from billing_site.views import csrf_failure

    request = RequestFactory().post("/api/v1/clients/")

    response = csrf_failure(request, reason="CSRF cookie not set.")

    assert_json_error(response, 403, "csrf_failed")


def test_a_disallowed_host_under_the_api_is_a_json_400():
    response = Client().get("/api/v1/accounts/", HTTP_HOST="evil.example")

    assert_json_error(response, 400, "bad_request")


def test_the_admin_and_the_portal_keep_their_html_error_pages(client):
    for path in ("/admin/no-such-page/", "/portal/no-such-page/", "/no-such-page/"):
        response = client.get(path)
        assert response.status_code in {302, 404}, path
        assert not response["Content-Type"].startswith("application/json"), path
    csrf = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x"})
    assert csrf.status_code == 403
    assert csrf["Content-Type"].startswith("text/html")


# -- JSON types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/settings/", {"external_invoicing": 0}, "external_invoicing"),
        ("/api/v1/settings/", {"due_reminder_days": "3"}, "due_reminder_days"),
        ("/api/v1/settings/", {"postpaid_permission_mode": 1}, "postpaid_permission_mode"),
    ],
)
def test_a_setting_of_another_json_type_is_400_and_changes_nothing(api, url, body, field):
    from approvals.services import system_settings

    before = system_settings()

    response = api.patch(url, body, format="json")

    assert_json_error(response, 400, "invalid", field)
    after = system_settings()
    assert (after.external_invoicing, after.due_reminder_days) == (
        before.external_invoicing,
        before.due_reminder_days,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5, "email": "a@example.com", "currency": "USD"}, "name"),
        (
            {
                "name": "Acme",
                "email": "a@example.com",
                "currency": "USD",
                "payment_term_days": "14",
            },
            "payment_term_days",
        ),
        (
            {"name": "Acme", "email": "a@example.com", "currency": "USD", "payment_mode": True},
            "payment_mode",
        ),
    ],
)
def test_a_body_value_of_another_json_type_is_400_naming_it(api, body, field):
    from accounts.models import Client as BillingClient

    response = api.post("/api/v1/clients/", body, format="json")

    assert_json_error(response, 400, "invalid", field)
    assert not BillingClient.objects.exists()


def test_a_subscription_order_with_a_string_for_a_boolean_is_400(api, account):
    response = api.post(
        f"/api/v1/accounts/{account.pk}/subscriptions/",
        {"plan": "basic", "trial": "true"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert_json_error(response, 400, "invalid", "trial")


@pytest.mark.parametrize("value", ["1.0", " 1", "1e0", ""])
def test_an_id_filter_that_is_not_digits_is_400(api, value):
    assert_json_error(api.get("/api/v1/invoices/", {"account": value}), 400, "invalid", "account")


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/accounts/", "payment_mode"),
        ("/api/v1/accounts/", "credit_status"),
        ("/api/v1/invoices/", "status"),
        ("/api/v1/manual-operations/", "status"),
        ("/api/v1/manual-operations/", "kind"),
    ],
)
def test_an_empty_filter_filters_nothing_and_the_schema_says_so(api, account, url, param):
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    parameter = next(p for p in schema["paths"][url]["get"]["parameters"] if p["name"] == param)

    assert "" in parameter["schema"]["enum"]
    assert api.get(url, {param: ""}).status_code == 200


def test_an_empty_currency_filter_filters_nothing_and_the_schema_says_so(api, account):
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    parameters = schema["paths"]["/api/v1/accounts/"]["get"]["parameters"]
    currency = next(p for p in parameters if p["name"] == "currency")

    assert currency["schema"].get("minLength", 0) == 0
    response = api.get("/api/v1/accounts/", {"currency": ""})
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_an_upsell_quote_without_a_plan_or_an_add_on_says_what_is_missing(api, account):
    from subscriptions.services import plan_create, subscription_order

    plan = plan_create(code="basic", name="Basic", price="10", currency="USD")
    subscription = subscription_order(account_id=account.pk, plan=plan.code, trial=False)

    neither = api.get(f"/api/v1/subscriptions/{subscription.pk}/upsell-quote/")
    both = api.get(
        f"/api/v1/subscriptions/{subscription.pk}/upsell-quote/", {"plan": "x", "add_on": "y"}
    )

    assert "not both" not in assert_json_error(neither, 400, "invalid", "plan")["detail"]
    assert "not both" in assert_json_error(both, 400, "invalid", "plan")["detail"]


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [("server_error", 500, "server_error"), ("permission_denied", 403, "permission_denied")],
)
def test_the_sites_error_handlers_answer_json_under_the_api_and_html_elsewhere(
    handler, status, code
):
    from django.core.exceptions import PermissionDenied

    from billing_site import urls, views

    view = getattr(views, handler)
    assert getattr(urls, f"handler{status}") == f"billing_site.views.{handler}"
    args = () if handler == "server_error" else (PermissionDenied(),)

    api = view(RequestFactory().get("/api/v1/accounts/"), *args)
    page = view(RequestFactory().get("/portal/"), *args)

    assert_json_error(api, status, code)
    assert page.status_code == status
    assert page["Content-Type"].startswith("text/html")


def test_an_empty_optional_idempotency_key_is_no_key_and_a_required_one_is_400(api, account):
    created = api.post(
        "/api/v1/clients/",
        {"name": "Acme", "email": "a@example.com", "currency": "USD"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="",
    )
    charged = api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="",
    )

    assert created.status_code == 201
    assert_json_error(charged, 400, "invalid", "Idempotency-Key")
