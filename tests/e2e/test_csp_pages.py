"""The pages work in a real browser under their Content-Security-Policy.

Each page records every CSP violation the browser reports; a page passes when it does
what it is for (the admin's and the portal's scripts react, Swagger UI and Redoc render
the schema) and nothing was refused.
"""

import pytest

from accounts.services import client_add_user
from subscriptions.services import plan_create
from tests.factories import AccountFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def page(context):
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    return page


# Redoc's sidebar shows Redocly's logo from their CDN, unconditionally; the policy keeps
# the reference off every CDN, so that one image is refused (Redoc hides it on error).
EXPECTED_REFUSALS = ("https://cdn.redoc.ly/",)


def assert_no_violation(page):
    violations = [
        v
        for v in page.evaluate("window.cspViolations")
        if not v.split()[-1].startswith(EXPECTED_REFUSALS)
    ]
    refused = [
        e
        for e in page.console_errors
        if "Content Security Policy" in e and not any(u in e for u in EXPECTED_REFUSALS)
    ]
    assert not violations and not refused, (page.url, violations, refused)


def test_the_admin_works_under_its_policy(page, live_server):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    account = AccountFactory(name="Acme Hosting")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert_no_violation(page)

    page.goto(f"{live_server.url}/admin/accounts/billingaccount/{account.pk}/convert/")
    limit_row = page.locator(".form-row.field-credit_limit")
    page.select_option("#id_payment_mode", "credit_limit")
    assert limit_row.is_visible()  # the page's own script (with the nonce) ran
    page.select_option("#id_payment_mode", "postpaid")
    assert limit_row.is_hidden()
    assert_no_violation(page)

    page.goto(f"{live_server.url}/admin/accounts/billingaccount/")
    page.get_by_role("link", name="Acme Hosting").first.wait_for()
    assert_no_violation(page)


def test_the_portal_works_under_its_policy(page, live_server):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    client_add_user(
        client_id=account.client_id,
        username="alice",
        email="alice@example.com",
        password=PASSWORD,
    )
    plan_create(code="trial", name="With trial", price="5", currency="USD", trial_days=14)
    plan_create(code="plain", name="No trial", price="5", currency="USD")

    page.goto(f"{live_server.url}/portal/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/portal/")
    assert_no_violation(page)

    page.goto(f"{live_server.url}/portal/subscriptions/order/")
    trial = page.locator("#id_trial")
    page.select_option("#id_plan", "plain")
    assert trial.is_hidden()  # the order form's script (with the nonce) ran
    page.select_option("#id_plan", "trial")
    assert trial.is_visible()
    assert_no_violation(page)


def test_the_start_page_and_the_api_reference_work_under_their_policy(page, live_server):
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("link", name="API reference").is_visible()
    assert_no_violation(page)

    page.goto(f"{live_server.url}/api/v1/docs/")
    page.locator(".opblock").first.wait_for()  # Swagger UI rendered the operations
    assert page.locator(".opblock").count() > 20
    assert_no_violation(page)

    page.goto(f"{live_server.url}/api/v1/redoc/")
    page.get_by_role("heading", name="Billing back office API").first.wait_for()
    page.get_by_placeholder("Search...").fill("charge")
    page.get_by_role("menuitem", name="Charge the account").last.wait_for()  # the worker found it
    assert_no_violation(page)
