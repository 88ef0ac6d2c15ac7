"""A customer's day in the portal, in a real browser (issue 6)."""

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from approvals.services import settings_update
from subscriptions.services import plan_create
from tests.factories import AccountFactory
from tests.portal.conftest import PASSWORD, october_invoice, portal_user

pytestmark = [
    pytest.mark.e2e,
    # live_server flushes between tests; on PostgreSQL the flush truncates, which the
    # ledger's append-only trigger (on UPDATE and DELETE) lets through.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

FIGURES = ["Usable", "Reserved", "Expecting invoice", "Amount due", "Current balance"]


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/portal/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/portal/")


@pytest.fixture
def acme():
    account = AccountFactory(name="Acme Hosting", payment_mode="credit_limit", credit_limit="1000")
    portal_user(account, "alice")
    return account, october_invoice(account, "123.45")


def test_customer_sees_figures_downloads_a_pdf_and_orders_under_review(page, live_server, acme):
    _, invoice = acme
    settings_update(changed_by=None, postpaid_permission_mode="manual")
    plan_create(code="metered", name="Metered", price="31", currency="USD", charging="postpay")

    sign_in(page, live_server, "alice")
    for label in FIGURES:
        assert page.locator(".figure-label", has_text=label).is_visible()
    assert page.get_by_text("Credit limit of 1,000.00 USD").is_visible()

    page.get_by_role("link", name="Invoices", exact=True).click()
    page.get_by_role("link", name=invoice.number).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert invoice.number in text

    page.get_by_role("link", name="Subscriptions", exact=True).click()
    page.get_by_role("link", name="Order a plan").first.click()
    page.get_by_label("Plan").select_option("metered")
    page.get_by_role("button", name="Order").click()
    page.wait_for_url(f"{live_server.url}/portal/subscriptions/")
    assert page.get_by_role("status").get_by_text("your account is under review").is_visible()


def test_a_second_customer_cannot_open_the_first_ones_invoice(page, live_server, acme):
    _, invoice = acme
    portal_user(AccountFactory(name="Rival"), "bob")
    sign_in(page, live_server, "bob")
    response = page.goto(f"{live_server.url}/portal/invoices/{invoice.pk}/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/portal/invoices/{invoice.pk}/pdf/")
    assert response.status == 404
