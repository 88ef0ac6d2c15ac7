import io
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from pypdf import PdfReader

from approvals.services import settings_update
from invoicing.models import Invoice, InvoiceStatus
from ledger.models import Entry
from ledger.selectors import account_figures
from subscriptions.models import PaymentPurpose, PaymentRequest, PaymentRequestStatus
from tests.invoicing.helpers import at, charge, run_cycle

from .conftest import approve_erp

pytestmark = pytest.mark.django_db


def reload(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def allow_test_gateway(user):
    user.user_permissions.add(Permission.objects.get(codename="confirm_paymentrequest"))


def test_list_shows_number_status_total_due_date_and_outstanding(signed_in, invoice):
    body = signed_in.get(reverse("portal:invoices")).content.decode()
    assert invoice.number in body
    assert "To pay" in body
    assert "100.00 USD" in body
    assert "15 Nov 2026" in body


def test_detail_shows_the_lines_and_the_pdf_link(signed_in, invoice):
    body = signed_in.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()
    assert "Dedicated server" in body
    assert reverse("portal:invoice_pdf", args=[invoice.pk]) in body
    assert reverse("portal:invoice_pay", args=[invoice.pk]) in body


def test_pdf_download_is_the_invoice(signed_in, invoice):
    response = signed_in.get(reverse("portal:invoice_pdf", args=[invoice.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert invoice.number in text


def test_bank_transfer_asks_for_the_money_and_books_nothing(signed_in, invoice):
    entries = Entry.objects.count()
    response = signed_in.post(
        reverse("portal:invoice_pay", args=[invoice.pk]),
        {"gateway": "bank_transfer", "nonce": uuid.uuid4()},
        follow=True,
    )
    asked = PaymentRequest.objects.get(invoice=invoice)
    assert asked.status == PaymentRequestStatus.PENDING
    body = response.content.decode()
    assert f"quoting the reference {asked.reference}" in body
    assert "Waiting for your transfer" in body
    assert Entry.objects.count() == entries
    assert reload(invoice).status == InvoiceStatus.APPROVED
    detail = signed_in.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()
    assert "Waiting for your transfer" in detail and asked.reference in detail


def test_another_clients_invoice_cannot_be_paid(signed_in, other_invoice):
    response = signed_in.post(
        reverse("portal:invoice_pay", args=[other_invoice.pk]),
        {"gateway": "bank_transfer", "nonce": uuid.uuid4()},
    )
    assert response.status_code == 404
    assert not PaymentRequest.objects.exists()


def test_the_test_gateway_is_not_offered_to_a_customer(signed_in, invoice):
    page = signed_in.get(reverse("portal:invoice_pay", args=[invoice.pk])).content.decode()
    assert 'value="test"' not in page
    entries = Entry.objects.count()
    response = signed_in.post(
        reverse("portal:invoice_pay", args=[invoice.pk]), {"gateway": "test", "nonce": uuid.uuid4()}
    )
    assert "Select a valid choice" in response.content.decode()
    assert Entry.objects.count() == entries


def test_the_test_gateway_pays_the_invoice_once(signed_in, customer, invoice):
    allow_test_gateway(customer)
    nonce = uuid.uuid4()
    url = reverse("portal:invoice_pay", args=[invoice.pk])
    response = signed_in.post(url, {"gateway": "test", "nonce": nonce}, follow=True)
    assert "Thank you: 100.00 USD received." in response.content.decode()
    assert reload(invoice).status == InvoiceStatus.PAID
    entries = Entry.objects.count()
    signed_in.post(url, {"gateway": "test", "nonce": nonce})  # a double submit
    assert Entry.objects.count() == entries


def test_a_paid_invoice_cannot_be_paid_again(signed_in, customer, invoice):
    allow_test_gateway(customer)
    url = reverse("portal:invoice_pay", args=[invoice.pk])
    signed_in.post(url, {"gateway": "test", "nonce": uuid.uuid4()})
    entries = Entry.objects.count()
    response = signed_in.post(url, {"gateway": "test", "nonce": uuid.uuid4()}, follow=True)
    assert "there is nothing to pay" in response.content.decode()
    assert Entry.objects.count() == entries


@pytest.fixture
def erp_invoice(credit_account, manager):
    settings_update(changed_by=manager, external_invoicing=True)
    charge(credit_account, "100", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    run_cycle("2026-11-02")
    return Invoice.objects.get(account=credit_account)


def test_an_erp_invoice_waiting_for_its_due_date_cannot_be_paid(signed_in, customer, erp_invoice):
    allow_test_gateway(customer)
    entries = Entry.objects.count()
    response = signed_in.post(
        reverse("portal:invoice_pay", args=[erp_invoice.pk]),
        {"gateway": "test", "nonce": uuid.uuid4()},
        follow=True,
    )
    assert "you can pay it once it is approved" in response.content.decode()
    assert Entry.objects.count() == entries


def test_an_external_total_is_asked_for_and_paid_the_erp_way(
    signed_in, customer, erp_invoice, manager
):
    approve_erp(erp_invoice, manager, external_total="95", external_currency="EUR")
    allow_test_gateway(customer)
    url = reverse("portal:invoice_pay", args=[erp_invoice.pk])
    page = signed_in.get(url).content.decode()
    assert "95.00 EUR" in page
    response = signed_in.post(url, {"gateway": "test", "nonce": uuid.uuid4()}, follow=True)
    assert "Thank you: 95.00 EUR received." in response.content.decode()
    assert reload(erp_invoice).status == InvoiceStatus.PAID
    # The platform books its own figure, not 95 EUR on a USD balance.
    assert account_figures(erp_invoice.account_id).balance == 0


def test_top_up_by_transfer_asks_for_the_money_and_books_nothing(signed_in, credit_account):
    entries = Entry.objects.count()
    response = signed_in.post(
        reverse("portal:top_up"),
        {"amount": "25", "gateway": "bank_transfer", "nonce": uuid.uuid4()},
        follow=True,
    )
    asked = PaymentRequest.objects.get(account=credit_account, purpose=PaymentPurpose.TOP_UP)
    assert f"quoting the reference {asked.reference}" in response.content.decode()
    assert Entry.objects.count() == entries
    page = signed_in.get(reverse("portal:top_up")).content.decode()
    assert "Waiting for your transfer" in page and asked.reference in page


def test_top_up_refuses_a_bad_amount(signed_in):
    entries = Entry.objects.count()
    response = signed_in.post(
        reverse("portal:top_up"),
        {"amount": "-5", "gateway": "bank_transfer", "nonce": uuid.uuid4()},
    )
    assert "greater than or equal to 0.01" in response.content.decode()
    assert Entry.objects.count() == entries


def test_top_up_through_the_test_gateway(signed_in, customer, credit_account):
    allow_test_gateway(customer)
    response = signed_in.post(
        reverse("portal:top_up"),
        {"amount": "25", "gateway": "test", "nonce": uuid.uuid4()},
        follow=True,
    )
    assert "25.00 USD added to your balance." in response.content.decode()
    assert account_figures(credit_account.pk).balance == 25
