"""GET invoices/, invoices/{id}/ and invoices/{id}/pdf/ (docs/design.md §6)."""

from datetime import date
from io import BytesIO

import pypdf
import pytest
import time_machine
from django.utils import timezone

from accounts.services import client_add_user
from invoicing.models import Invoice
from invoicing.services import invoicing_run_month
from ledger.services import ledger_charge
from tests.factories import AccountFactory

from .conftest import client_for

pytestmark = pytest.mark.django_db


def _invoiced(account, amount="12.345", n=1):
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        for i in range(n):
            ledger_charge(
                account_id=account.pk,
                amount=amount,
                idempotency_key=f"c{account.pk}-{i}",
                kind="usage",
                description="Outbound calls",
            )
    invoicing_run_month(run_date=date(2026, 11, 1))
    return Invoice.objects.get(account=account)


@pytest.fixture
def credit_account():
    return AccountFactory(payment_mode="credit_limit", credit_limit="500", payment_term_days=10)


@pytest.fixture
def invoice(credit_account):
    return _invoiced(credit_account, n=3)


@pytest.fixture
def portal_api(credit_account):
    user = client_add_user(
        client_id=credit_account.client_id,
        username="portal-credit",
        email="p@client.example",
        password="a long enough passphrase 42",
    )
    return client_for(user)


def test_invoice_detail_shows_lines_totals_due_date_and_payment(staff_api, invoice):
    body = staff_api.get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert body["number"] == invoice.number
    assert body["status"] == "approved"
    assert (body["period_start"], body["period_end"]) == ("2026-10-01", "2026-10-31")
    assert body["due_date"] == "2026-11-11"
    assert body["subtotal"] == {"amount": "-37.035000", "currency": "USD"}
    assert body["rounding"] == {"amount": "-0.005000", "currency": "USD"}
    assert body["total"] == {"amount": "37.040000", "currency": "USD"}
    assert body["lines"] == [
        {
            "description": "Outbound calls",
            "kind": "usage",
            "quantity": 3,
            "amount": {"amount": "-37.035000", "currency": "USD"},
        }
    ]
    assert body["payment"]["status"] == "waiting_for_payment"
    assert body["payment"]["due_date"] == "2026-11-11"


def test_invoice_list_filters_by_status_and_account(staff_api, invoice):
    postpaid = AccountFactory(payment_mode="postpaid")
    _invoiced(postpaid, amount="3")
    everything = staff_api.get("/api/v1/invoices/").json()
    assert everything["count"] == 2
    by_account = staff_api.get(f"/api/v1/invoices/?account={postpaid.pk}").json()
    assert [i["account"] for i in by_account["results"]] == [postpaid.pk]
    assert by_account["results"][0]["due_date"] is None  # postpaid: no due date
    assert staff_api.get("/api/v1/invoices/?status=paid").json()["count"] == 0


def test_an_unknown_status_filter_is_a_400_naming_the_field(staff_api, invoice):
    response = staff_api.get("/api/v1/invoices/?status=lost")
    assert response.status_code == 400
    assert response.json()["field"] == "status"


def test_a_client_login_sees_only_its_own_invoices(portal_api, invoice):
    other = _invoiced(AccountFactory(payment_mode="postpaid"), amount="9")
    listed = portal_api.get("/api/v1/invoices/").json()
    assert [i["number"] for i in listed["results"]] == [invoice.number]
    for path in (f"/api/v1/invoices/{other.pk}/", f"/api/v1/invoices/{other.pk}/pdf/"):
        response = portal_api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


def test_a_key_without_the_view_permission_is_403(bare_api, invoice):
    assert bare_api.get("/api/v1/invoices/").status_code == 403
    assert bare_api.get(f"/api/v1/invoices/{invoice.pk}/").status_code == 403


def test_the_owner_downloads_the_invoice_pdf_with_its_number_and_total(portal_api, invoice):
    response = portal_api.get(f"/api/v1/invoices/{invoice.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(BytesIO(response.content)).pages)
    assert invoice.number in text
    assert "37.04" in text
