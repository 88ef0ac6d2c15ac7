"""The external ERP's side of the API (docs/design.md §6).

The whole flow runs through the API: close → payment waiting
without a due date (not payable) → approve with a due date and an external total in
another currency (not payable from balance) → receipt upload → payment approved →
invoice paid, the books consistent.
"""

import threading
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import client_add_user
from api.services import api_key_create
from invoicing import receipts
from invoicing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from invoicing.selectors import invoice_mismatches
from ledger.models import Entry, EntryKind
from ledger.selectors import ledger_mismatches
from tests.factories import UserFactory, staff_user
from tests.invoicing.helpers import at, run_cycle
from tests.pdfs import minimal_pdf

from .conftest import client_for, new_key

pytestmark = pytest.mark.django_db

PDF = minimal_pdf()  # a receipt must be a PDF a reader opens


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path


@pytest.fixture
def erp():
    """The ERP's key: an integration user in the Managers group."""
    return client_for(staff_user("Managers", username="erp"))


def on(day: str, hour: int = 10):
    moment = date.fromisoformat(day)
    return time_machine.travel(at(moment.year, moment.month, moment.day, hour), tick=False)


def post(api, path, body=None, **kwargs):
    return api.post(path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=new_key(), **kwargs)


def receipt(api, invoice_id, data=PDF, name="erp.pdf"):
    return api.post(
        f"/api/v1/invoices/{invoice_id}/receipt/",
        {"file": SimpleUploadedFile(name, data, content_type="application/pdf")},
        format="multipart",
    )


def erp_account(erp, mode="postpaid", **extra) -> int:
    """ERP mode on, a client in `mode` with 100 USD charged in October, through the API."""
    with on("2026-10-01"):
        assert erp.patch("/api/v1/settings/", {"external_invoicing": True}, format="json").json()[
            "external_invoicing"
        ]
        created = post(
            erp,
            "/api/v1/clients/",
            {
                "name": "ERP client",
                "email": "erp-client@example.com",
                "currency": "USD",
                "payment_mode": mode,
                **extra,
            },
        )
        assert created.status_code == 201, created.json()
        account = created.json()["account"]
    with on("2026-10-12"):
        assert post(
            erp, f"/api/v1/accounts/{account}/charges/", {"amount": "100", "kind": "usage"}
        ).status_code in (201, 402)
    return account


def closed_invoice(erp, mode="postpaid", **extra) -> dict:
    account = erp_account(erp, mode, **extra)
    run_cycle("2026-11-01")
    run_cycle("2026-11-02")
    with on("2026-11-02"):
        listed = erp.get(f"/api/v1/invoices/?account={account}").json()["results"]
    assert len(listed) == 1
    return listed[0]


def assert_books_consistent():
    problems = [str(m) for m in ledger_mismatches()] + [str(m) for m in invoice_mismatches()]
    assert not problems, problems
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "Ledger OK" in out.getvalue()


def test_the_whole_erp_flow_through_the_api(erp):
    # The billing day: the charges are closed on an open invoice; the next day it closes.
    account = erp_account(erp)
    run_cycle("2026-11-01")
    with on("2026-11-01", 12):
        (opened,) = erp.get(f"/api/v1/invoices/?account={account}").json()["results"]
    assert (opened["status"], opened["erp_managed"], opened["payment"]) == ("open", True, None)
    run_cycle("2026-11-02")

    with on("2026-11-02", 12):
        invoice = erp.get(f"/api/v1/invoices/{opened['id']}/").json()
        assert invoice["status"] == "closed"
        payment = invoice["payment"]
        assert (payment["status"], payment["due_date"]) == ("waiting_for_payment", None)
        assert (payment["external_total"], payment["receipt_url"]) == (None, None)

        # Waiting without a due date: neither approved nor paid by money on the balance.
        refused = post(erp, f"/api/v1/payments/{payment['id']}/approve/")
        assert refused.status_code == 409
        assert refused.json()["error"] == "invalid_transition"
        assert "waiting for the ERP to approve" in refused.json()["detail"]
        paid_in = post(
            erp, f"/api/v1/accounts/{account}/payments/", {"amount": "40", "reference": "wire"}
        )
        assert paid_in.status_code == 201
        assert erp.get(f"/api/v1/invoices/{invoice['id']}/").json()["amount_paid"]["amount"] == (
            "0.000000"
        )

    with on("2026-11-03"):
        # A due date in the past is refused and changes nothing.
        past = post(erp, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-11-02"})
        assert past.status_code == 400
        assert past.json()["field"] == "due_date"
        assert erp.get(f"/api/v1/invoices/{invoice['id']}/").json()["status"] == "closed"

        approved = post(
            erp,
            f"/api/v1/invoices/{invoice['id']}/approve/",
            {
                "due_date": "2026-11-20",
                "external_total": {"amount": "92.50", "currency": "EUR"},
                "receipt_url": "https://erp.example/invoices/2026-10.pdf",
            },
        )
        assert approved.status_code == 200, approved.json()
        body = approved.json()
        assert (body["status"], body["due_date"]) == ("approved", "2026-11-20")
        assert body["payment"]["due_date"] == "2026-11-20"
        assert body["payment"]["external_total"] == {"amount": "92.500000", "currency": "EUR"}
        assert body["payment"]["payable_from_balance"] is False
        assert body["payment"]["receipt_url"] == "https://erp.example/invoices/2026-10.pdf"
        # The 40 on the balance did not pay it, and more money does not either.
        assert body["amount_paid"]["amount"] == "0.000000"
        post(erp, f"/api/v1/accounts/{account}/payments/", {"amount": "60", "reference": "x"})
        assert erp.get(f"/api/v1/invoices/{invoice['id']}/").json()["status"] == "approved"

    with on("2026-11-04"):
        not_pdf = receipt(erp, invoice["id"], b"PK\x03\x04 a zip, named .pdf")
        assert not_pdf.status_code == 400
        assert (not_pdf.json()["field"], not_pdf.json()["error"]) == ("file", "invalid")
        too_big = receipt(erp, invoice["id"], b"%PDF-" + b"0" * receipts.MAX_BYTES)
        assert too_big.status_code == 400
        assert too_big.json()["field"] == "file"
        assert "10 MiB" in too_big.json()["detail"]

        attached = receipt(erp, invoice["id"])
        assert attached.status_code == 200, attached.json()
        pdf_url = f"/api/v1/invoices/{invoice['id']}/pdf/"
        assert attached.json()["payment"]["receipt_url"] == pdf_url
        assert erp.get(pdf_url).content == PDF

        paid = post(erp, f"/api/v1/payments/{payment['id']}/approve/")
        assert paid.status_code == 200, paid.json()
        assert paid.json()["status"] == "completed"
        assert paid.json()["invoice"]["status"] == "paid"
        assert paid.json()["invoice"]["amount_paid"]["amount"] == "100.000000"

        figures = erp.get(f"/api/v1/accounts/{account}/").json()
    # 100 charged, 100 booked for the ERP's payment, 100 received on the balance.
    assert figures["balance"]["amount"] == "100.000000"
    assert figures["amount_due"]["amount"] == "100.000000"
    booked = Entry.objects.get(idempotency_key=f"erp-payment:{payment['id']}")
    assert (booked.kind, booked.amount) == (EntryKind.PAYMENT, Decimal("100"))
    assert_books_consistent()


def test_a_client_login_sees_the_external_total_and_its_receipt_but_cannot_act(erp):
    invoice = closed_invoice(erp)
    account = Invoice.objects.get(pk=invoice["id"]).account
    portal = client_for(
        client_add_user(
            client_id=account.client_id,
            username="portal-erp",
            email="p@erp.example",
            password="a long enough passphrase 42",
        )
    )
    with on("2026-11-03"):
        post(
            erp,
            f"/api/v1/invoices/{invoice['id']}/approve/",
            {"due_date": "2026-11-20", "external_total": "80", "external_currency": "GBP"},
        )
        receipt(erp, invoice["id"])
        seen = portal.get(f"/api/v1/invoices/{invoice['id']}/").json()
        payment_id = seen["payment"]["id"]
        assert seen["payment"]["external_total"] == {"amount": "80.000000", "currency": "GBP"}
        assert portal.get(seen["pdf_url"]).content == PDF
        assert portal.get(f"/api/v1/payments/{payment_id}/").status_code == 200
        for path in (
            f"/api/v1/invoices/{invoice['id']}/approve/",
            f"/api/v1/payments/{payment_id}/approve/",
            f"/api/v1/payments/{payment_id}/cancel/",
        ):
            response = post(portal, path, {"due_date": "2026-11-25"})
            assert response.status_code == 403, path
            assert response.json()["error"] == "permission_denied"
        assert receipt(portal, invoice["id"]).status_code == 403
    assert Payment.objects.get(pk=payment_id).status == PaymentStatus.WAITING


def test_another_clients_login_gets_404_for_every_erp_action(erp, client_user_api):
    invoice = closed_invoice(erp)
    payment_id = invoice["payment"]["id"]
    with on("2026-11-03"):
        for path in (
            f"/api/v1/invoices/{invoice['id']}/approve/",
            f"/api/v1/payments/{payment_id}/approve/",
            f"/api/v1/payments/{payment_id}/cancel/",
        ):
            response = post(client_user_api, path, {"due_date": "2026-11-25"})
            assert response.status_code == 404, path
        assert receipt(client_user_api, invoice["id"]).status_code == 404
        assert client_user_api.get(f"/api/v1/payments/{payment_id}/").status_code == 404
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.CLOSED


def test_billing_staff_keys_lack_the_erp_permissions(erp, staff_api):
    invoice = closed_invoice(erp)
    with on("2026-11-03"):
        response = post(
            staff_api, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-11-25"}
        )
        assert response.status_code == 403
        assert "approve_invoice" in response.json()["detail"]
        assert post(staff_api, f"/api/v1/payments/{invoice['payment']['id']}/cancel/").status_code
        assert receipt(staff_api, invoice["id"]).status_code == 403
        for path in ("/api/v1/invoices/999999/approve/", "/api/v1/payments/999999/approve/"):
            assert post(erp, path, {"due_date": "2026-11-25"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "due_date"),
        ({"due_date": "soon"}, "due_date"),
        ({"due_date": "2026-11-02"}, "due_date"),
        (
            {"due_date": "2026-11-20", "external_total": "-1", "external_currency": "EUR"},
            "external_total",
        ),
        (
            {"due_date": "2026-11-20", "external_total": "10", "external_currency": "EUX"},
            "external_currency",
        ),
        ({"due_date": "2026-11-20", "external_total": "10"}, "external_currency"),
        (
            {
                "due_date": "2026-11-20",
                "external_total": {"amount": "10", "currency": "EUR"},
                "external_currency": "GBP",
            },
            "external_currency",
        ),
        ({"due_date": "2026-11-20", "receipt_url": "file:///etc/passwd"}, "receipt_url"),
    ],
)
def test_bad_approvals_are_400_naming_the_field_and_change_nothing(erp, body, field):
    invoice = closed_invoice(erp)
    with on("2026-11-03"):
        response = post(erp, f"/api/v1/invoices/{invoice['id']}/approve/", body)
    assert response.status_code == 400, response.json()
    answer = response.json()
    assert answer["error"] == "invalid"
    assert answer["detail"]
    assert answer["field"] == field
    payment = Payment.objects.get(pk=invoice["payment"]["id"])
    assert (payment.due_date, payment.external_total) == (None, None)
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.CLOSED


def test_approving_an_invoice_in_the_wrong_state_is_409(erp):
    invoice = closed_invoice(erp)
    with on("2026-11-03"):
        first = post(erp, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-11-20"})
        again = post(erp, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-12-20"})
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["error"] == "invalid_transition"
    assert "only a closed invoice" in again.json()["detail"]
    assert Payment.objects.get(pk=invoice["payment"]["id"]).due_date == date(2026, 11, 20)


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(erp):
    invoice = closed_invoice(erp)
    with on("2026-11-03"):
        response = erp.post(
            f"/api/v1/invoices/{invoice['id']}/receipt/",
            b"--x--",
            content_type="multipart/form-data; boundary=x",
            CONTENT_LENGTH=str(50 * 2**20),
        )
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["error"]) == ("file", "invalid")
    assert "10 MiB" in response.json()["detail"]


def test_a_receipt_for_an_open_invoice_is_409(erp):
    account = erp_account(erp)
    run_cycle("2026-11-01")
    invoice = Invoice.objects.get(account_id=account)
    with on("2026-11-01", 12):
        response = receipt(erp, invoice.pk)
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"


def test_a_receipt_matched_by_account_and_period_start(erp):
    invoice = closed_invoice(erp)
    with on("2026-11-03"):
        url = "/api/v1/invoices/receipt/"
        body = {"account": invoice["account"], "period_start": "2026-10-01"}
        matched = erp.post(
            url, {**body, "file": SimpleUploadedFile("r.pdf", PDF)}, format="multipart"
        )
        assert matched.status_code == 200, matched.json()
        assert matched.json()["id"] == invoice["id"]
        missing = erp.post(
            url,
            {**body, "period_start": "2026-09-01", "file": SimpleUploadedFile("r.pdf", PDF)},
            format="multipart",
        )
        assert (missing.status_code, missing.json()["field"]) == (404, "period_start")
        as_json = erp.post(url, body, format="json")
        assert as_json.status_code == 415


def test_payment_approval_is_booked_once_and_a_retry_with_its_key_replays(erp):
    invoice = closed_invoice(erp, "credit_limit", credit_limit="500")
    path = f"/api/v1/payments/{invoice['payment']['id']}/approve/"
    with on("2026-11-03"):
        post(erp, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-11-20"})
        first = erp.post(path, format="json", HTTP_IDEMPOTENCY_KEY="erp-pay-1")
        replay = erp.post(path, format="json", HTTP_IDEMPOTENCY_KEY="erp-pay-1")
        unkeyed = erp.post(path, format="json")
    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert unkeyed.status_code == 409
    assert Entry.objects.filter(kind=EntryKind.PAYMENT, amount=Decimal("100")).count() == 1
    assert_books_consistent()


def test_cancel_through_the_api_leaves_the_invoice_owed(erp):
    invoice = closed_invoice(erp)
    with on("2026-11-03"):
        cancelled = post(
            erp, f"/api/v1/payments/{invoice['payment']['id']}/cancel/", {"reason": "voided"}
        )
        again = post(erp, f"/api/v1/payments/{invoice['payment']['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["invoice"]["status"] == "closed"
    assert again.status_code == 409


def test_with_the_setting_off_invoices_arrive_approved_and_erp_approval_is_409(staff_api):
    erp = client_for(staff_user("Managers", username="erp-off"))
    with on("2026-10-01"):
        account = post(
            erp,
            "/api/v1/clients/",
            {"name": "C", "email": "c@example.com", "currency": "USD", "payment_mode": "postpaid"},
        ).json()["account"]
    with on("2026-10-12"):
        post(erp, f"/api/v1/accounts/{account}/charges/", {"amount": "10"})
    run_cycle("2026-11-01")
    with on("2026-11-02"):
        (invoice,) = erp.get(f"/api/v1/invoices/?account={account}").json()["results"]
        assert (invoice["status"], invoice["erp_managed"]) == ("approved", False)
        response = post(
            erp, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-11-20"}
        )
    assert response.status_code == 409


def test_the_schema_documents_the_erp_endpoints():
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    for path in (
        "/api/v1/invoices/{invoice_id}/approve/",
        "/api/v1/invoices/{invoice_id}/receipt/",
        "/api/v1/invoices/receipt/",
        "/api/v1/payments/{payment_id}/",
        "/api/v1/payments/{payment_id}/approve/",
        "/api/v1/payments/{payment_id}/cancel/",
    ):
        assert path in schema["paths"], path
    receipt_body = schema["paths"]["/api/v1/invoices/{invoice_id}/receipt/"]["post"]
    assert "multipart/form-data" in receipt_body["requestBody"]["content"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_payment_approvals_book_once():
    user = UserFactory(username="erp-race")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "add_client",
                "post_charge",
                "view_invoice",
                "approve_invoice",
                "approve_payment",
                "change_systemsettings",
            ]
        )
    )
    raw_key = api_key_create(user=user, name="race")[1]
    erp = APIClient()
    erp.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    invoice = closed_invoice(erp)
    path = f"/api/v1/payments/{invoice['payment']['id']}/approve/"
    with on("2026-11-03"):
        post(erp, f"/api/v1/invoices/{invoice['id']}/approve/", {"due_date": "2026-11-20"})

    barrier = threading.Barrier(6)
    answers = []

    def approve():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
            barrier.wait(timeout=10)
            answers.append(client.post(path, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers) == [200, 409, 409, 409, 409, 409]
    assert Entry.objects.filter(kind=EntryKind.PAYMENT).count() == 1
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PAID
    assert not list(ledger_mismatches()) and not list(invoice_mismatches())


def test_a_receipt_larger_than_the_json_limit_uploads_within_its_own_limit(erp, settings):
    """Bodies past 2.5 MB are 413 elsewhere; a receipt may be up to 10 MiB."""
    invoice = closed_invoice(erp)
    data = minimal_pdf(padding=3 * 2**20)
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(data) < receipts.MAX_BYTES

    with on("2026-11-03"):
        response = receipt(erp, invoice["id"], data)
        assert response.status_code == 200, response.content[:300]
        assert erp.get(f"/api/v1/invoices/{invoice['id']}/pdf/").content == data


def test_a_file_that_only_starts_like_a_pdf_is_refused_through_the_api(erp):
    invoice = closed_invoice(erp)

    with on("2026-11-03"):
        response = receipt(erp, invoice["id"], b"%PDF-1.7\n<html>not a document</html>\n%%EOF\n")

    assert response.status_code == 400
    assert (response.json()["error"], response.json()["field"]) == ("invalid", "file")
    assert "not a PDF a reader can open" in response.json()["detail"]
    assert Payment.objects.get(pk=invoice["payment"]["id"]).receipt_file == ""
