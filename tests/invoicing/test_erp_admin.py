"""Managers do by hand in the admin what the external ERP does through the API."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from approvals.services import settings_update
from invoicing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from invoicing.services import invoice_approve
from ledger.models import Entry
from tests.factories import AccountFactory, staff_user
from tests.pdfs import minimal_pdf

from .helpers import assert_books_agree, at, charge, reload, run_cycle

pytestmark = pytest.mark.django_db

PDF = minimal_pdf()  # a receipt must be a PDF a reader opens


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path


@pytest.fixture
def manager():
    return staff_user("Managers")


@pytest.fixture
def invoice(manager):
    """A closed invoice of the ERP mode: its payment waits without a due date."""
    settings_update(changed_by=manager, external_invoicing=True)
    account = AccountFactory(payment_mode="credit_limit", credit_limit="500")
    charge(account, "120", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    run_cycle("2026-11-02")
    return Invoice.objects.get(account=account)


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def invoice_url(invoice, rest="change/"):
    return f"/admin/invoicing/invoice/{invoice.pk}/{rest}"


def payment_url(payment, rest="change/"):
    return f"/admin/invoicing/payment/{payment.pk}/{rest}"


def test_manager_approves_with_due_date_and_external_total(as_manager, invoice, manager):
    content = page(as_manager, invoice_url(invoice))
    assert 'value="approve"' in content
    assert "waiting for the ERP" in content

    with time_machine.travel(at(2026, 11, 3, 10)):
        response = as_manager.post(
            invoice_url(invoice, "transition/approve/"),
            {
                "due_date": "2026-11-25",
                "external_total": "110.00",
                "external_currency": "EUR",
                "receipt_url": "https://erp.example/doc/1",
            },
        )

    assert response.status_code == 302
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.APPROVED
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.due_date, payment.external_total, payment.external_currency) == (
        date(2026, 11, 25),
        Decimal("110"),
        "EUR",
    )
    content = page(as_manager, payment_url(payment))
    assert "110.00" in content and "EUR" in content
    assert "not payable from balance" in content
    assert "https://erp.example/doc/1" in content
    assert "Approve payment" in content


def test_a_refused_approval_shows_the_error_on_its_field(as_manager, invoice):
    with time_machine.travel(at(2026, 11, 3, 10)):
        response = as_manager.post(
            invoice_url(invoice, "transition/approve/"),
            {"due_date": "2026-11-25", "external_total": "110", "external_currency": "QQQ"},
        )
    assert response.status_code == 200
    assert "not a known ISO 4217 currency" in response.content.decode()
    assert reload(invoice).status == InvoiceStatus.CLOSED

    with time_machine.travel(at(2026, 11, 3, 10)):
        response = as_manager.post(invoice_url(invoice, "transition/approve/"), {})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_manager_uploads_the_erp_receipt(as_manager, invoice):
    assert "Upload receipt" in page(as_manager, invoice_url(invoice))
    form = page(as_manager, invoice_url(invoice, "receipt/"))
    assert 'enctype="multipart/form-data"' in form

    refused = as_manager.post(
        invoice_url(invoice, "receipt/"),
        {"file": SimpleUploadedFile("x.pdf", b"GIF89a", content_type="application/pdf")},
    )
    assert refused.status_code == 200
    assert "must be a PDF" in refused.content.decode()

    response = as_manager.post(
        invoice_url(invoice, "receipt/"),
        {"file": SimpleUploadedFile("x.pdf", PDF, content_type="application/pdf")},
    )
    assert response.status_code == 302
    payment = Payment.objects.get(invoice=invoice)
    assert payment.receipt_file
    download = as_manager.get(payment_url(payment, "receipt/"))
    assert download.status_code == 200
    assert download.content == PDF


def test_manager_approves_the_payment_from_its_page(as_manager, invoice, manager):
    with time_machine.travel(at(2026, 11, 3, 10)):
        as_manager.post(invoice_url(invoice, "transition/approve/"), {"due_date": "2026-11-25"})
    payment = Payment.objects.get(invoice=invoice)
    assert "books 120" in page(as_manager, payment_url(payment, "approve/"))

    response = as_manager.post(payment_url(payment, "approve/"), {})

    assert response.status_code == 302
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.COMPLETED
    assert reload(invoice).status == InvoiceStatus.PAID
    assert Entry.objects.filter(idempotency_key=f"erp-payment:{payment.pk}").count() == 1
    assert_books_agree()


def test_approving_a_payment_without_due_date_shows_why_and_changes_nothing(as_manager, invoice):
    payment = Payment.objects.get(invoice=invoice)
    assert "Waiting for the ERP" in page(as_manager, payment_url(payment))

    response = as_manager.post(payment_url(payment, "approve/"), {})

    assert response.status_code == 200
    assert "waiting for the ERP to approve" in response.content.decode()
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.WAITING


def test_manager_cancels_a_payment(as_manager, invoice):
    payment = Payment.objects.get(invoice=invoice)
    response = as_manager.post(payment_url(payment, "cancel/"), {"reason": "ERP voided it"})
    assert response.status_code == 302
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CANCELLED
    assert reload(invoice).status == InvoiceStatus.CLOSED
    assert "ERP voided it" in page(as_manager, payment_url(payment))


def test_billing_staff_cannot_approve_or_cancel_payments_or_upload(client, invoice, manager):
    client.force_login(staff_user("Billing staff"))
    with time_machine.travel(at(2026, 11, 3, 10)):
        invoice_approve(invoice_id=invoice.pk, due_date=date(2026, 11, 25), approved_by=manager)
    payment = Payment.objects.get(invoice=invoice)
    assert "Approve payment" not in page(client, payment_url(payment))
    assert "Upload receipt" not in page(client, invoice_url(invoice))
    for url in (
        payment_url(payment, "approve/"),
        payment_url(payment, "cancel/"),
        invoice_url(invoice, "receipt/"),
    ):
        assert client.post(url, {"due_date": "2030-01-01"}).status_code == 403, url
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.WAITING
    assert reload(invoice).status == InvoiceStatus.APPROVED


def test_billing_staff_cannot_approve_an_invoice(client, invoice):
    client.force_login(staff_user("Billing staff"))
    assert 'value="approve"' not in page(client, invoice_url(invoice))
    response = client.post(invoice_url(invoice, "transition/approve/"), {"due_date": "2030-01-01"})
    assert response.status_code == 403
    assert reload(invoice).status == InvoiceStatus.CLOSED
