"""Paying an invoice and topping up the balance through payment requests (docs/design.md §3, §4)."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from approvals.services import settings_update
from billing_site.exceptions import DomainError, InvalidInput
from invoicing.exceptions import InvoiceStateError
from invoicing.models import Invoice, InvoiceStatus, PaymentStatus
from invoicing.services import payment_approve
from ledger.models import Entry
from ledger.selectors import account_figures
from subscriptions.models import PaymentPurpose, PaymentRequest, PaymentRequestStatus
from subscriptions.services import (
    payment_request_confirm,
    payment_request_for_invoice,
    payment_request_top_up,
)
from tests.api.conftest import client_for, new_key
from tests.factories import AccountFactory, UserFactory, staff_user
from tests.invoicing.helpers import assert_books_agree, at, charge, pay, reload, run_cycle
from tests.portal.conftest import approve_erp, october_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(db):
    return AccountFactory(name="Acme", payment_mode="credit_limit", credit_limit="1000")


@pytest.fixture
def clerk(db):
    return staff_user("Billing staff", username="clerk")


@pytest.fixture
def manager(db):
    return staff_user("Managers", username="manny")


@pytest.fixture
def customer(db):
    return UserFactory(username="alice")


def books_are_clean() -> None:
    assert_books_agree()
    call_command("verify_ledger", stdout=StringIO(), stderr=StringIO())


def balance(account) -> Decimal:
    return account_figures(account.pk).balance


def test_a_bank_transfer_waits_then_staff_confirm_and_the_invoice_is_paid(account, customer, clerk):
    invoice = october_invoice(account)
    pay(account, "0.004", at(2026, 11, 5, 10))  # leaves 99.996 outstanding
    entries = Entry.objects.count()

    asked = payment_request_for_invoice(
        invoice_id=invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    assert (asked.purpose, asked.status, asked.invoice_id) == (
        PaymentPurpose.INVOICE,
        PaymentRequestStatus.PENDING,
        invoice.pk,
    )
    assert (asked.amount, asked.currency) == (Decimal("100.00"), "USD")  # rounded up
    assert asked.reference in asked.instructions
    assert Entry.objects.count() == entries
    assert reload(invoice).status == InvoiceStatus.APPROVED

    settled = payment_request_confirm(request_id=asked.pk, confirmed_by=clerk)
    assert settled.status == PaymentRequestStatus.SUCCEEDED
    assert settled.payment_entry is not None
    assert reload(invoice).status == InvoiceStatus.PAID
    assert balance(account) == Decimal("0.004")  # the rounding stays on the balance
    books_are_clean()


def test_confirming_twice_books_once(account, customer, clerk):
    invoice = october_invoice(account)
    asked = payment_request_for_invoice(
        invoice_id=invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    payment_request_confirm(request_id=asked.pk, confirmed_by=clerk)
    entries = Entry.objects.count()
    with pytest.raises(DomainError):
        payment_request_confirm(request_id=asked.pk, confirmed_by=clerk)
    assert Entry.objects.count() == entries
    assert balance(account) == 0
    books_are_clean()


def test_asking_twice_for_the_same_invoice_returns_the_waiting_request(account, customer):
    invoice = october_invoice(account)
    first = payment_request_for_invoice(
        invoice_id=invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    again = payment_request_for_invoice(
        invoice_id=invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    assert again.pk == first.pk


def test_the_money_pays_this_invoice_before_an_older_unpaid_one(account, customer, clerk):
    october = october_invoice(account)
    charge(account, "40", at(2026, 11, 10, 12), description="November")
    run_cycle("2026-12-01")
    november = Invoice.objects.get(account=account, period_start__month=11)

    asked = payment_request_for_invoice(
        invoice_id=november.pk, gateway="bank_transfer", requested_by=customer
    )
    payment_request_confirm(request_id=asked.pk, confirmed_by=clerk)
    assert reload(november).status == InvoiceStatus.PAID
    assert reload(october).status in (InvoiceStatus.APPROVED, InvoiceStatus.OVERDUE)
    assert reload(october).amount_paid == 0
    books_are_clean()


def test_a_customer_cannot_choose_the_test_gateway(account, customer):
    invoice = october_invoice(account)
    with pytest.raises(DomainError):
        payment_request_for_invoice(invoice_id=invoice.pk, gateway="test", requested_by=customer)
    assert not PaymentRequest.objects.exists()


def test_the_test_gateway_pays_at_once_for_staff(account, clerk):
    invoice = october_invoice(account)
    asked = payment_request_for_invoice(invoice_id=invoice.pk, gateway="test", requested_by=clerk)
    assert asked.status == PaymentRequestStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    books_are_clean()


def test_a_paid_invoice_is_refused(account, clerk):
    invoice = october_invoice(account)
    payment_request_for_invoice(invoice_id=invoice.pk, gateway="test", requested_by=clerk)
    with pytest.raises(InvoiceStateError, match="only an approved or overdue invoice"):
        payment_request_for_invoice(
            invoice_id=invoice.pk, gateway="bank_transfer", requested_by=clerk
        )


def test_an_unknown_gateway_is_refused(account, customer):
    invoice = october_invoice(account)
    with pytest.raises(InvalidInput, match="not a payment gateway"):
        payment_request_for_invoice(invoice_id=invoice.pk, gateway="cash", requested_by=customer)


@pytest.fixture
def erp_invoice(account, manager):
    settings_update(changed_by=manager, external_invoicing=True)
    charge(account, "100", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    run_cycle("2026-11-02")
    return Invoice.objects.get(account=account)


def test_an_erp_payment_waiting_for_its_due_date_is_refused(erp_invoice, customer):
    with pytest.raises(InvoiceStateError, match="only an approved or overdue invoice"):
        payment_request_for_invoice(
            invoice_id=erp_invoice.pk, gateway="bank_transfer", requested_by=customer
        )
    assert not PaymentRequest.objects.exists()


def test_an_external_total_is_asked_for_and_completed_the_erp_way(
    erp_invoice, manager, customer, clerk
):
    approve_erp(erp_invoice, manager, external_total="95", external_currency="EUR")
    asked = payment_request_for_invoice(
        invoice_id=erp_invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    assert (asked.amount, asked.currency) == (Decimal("95.00"), "EUR")

    payment_request_confirm(request_id=asked.pk, confirmed_by=clerk)
    invoice = reload(erp_invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.payment.status == PaymentStatus.COMPLETED
    # The platform's outstanding was booked and applied; no EUR landed on the USD balance.
    assert balance(erp_invoice.account) == 0
    with pytest.raises(InvoiceStateError):
        payment_approve(payment_id=invoice.payment.pk, approved_by=manager)
    books_are_clean()


def test_a_top_up_confirmed_raises_the_balance_and_pays_the_oldest_invoice(
    account, customer, clerk
):
    october = october_invoice(account)
    asked = payment_request_top_up(
        account_id=account.pk, amount="150", gateway="bank_transfer", requested_by=customer
    )
    assert (asked.purpose, asked.subscription_id, asked.invoice_id) == (
        PaymentPurpose.TOP_UP,
        None,
        None,
    )
    assert balance(account) == -100

    payment_request_confirm(request_id=asked.pk, confirmed_by=clerk)
    assert balance(account) == 50
    assert reload(october).status == InvoiceStatus.PAID
    books_are_clean()


@pytest.mark.parametrize("amount", ["0", "-5", "abc"])
def test_a_top_up_needs_a_positive_amount(account, customer, amount):
    with pytest.raises(InvalidInput):
        payment_request_top_up(
            account_id=account.pk, amount=amount, gateway="bank_transfer", requested_by=customer
        )
    assert not PaymentRequest.objects.exists()


def test_a_prepaid_account_tops_up_through_the_test_gateway(clerk):
    prepaid = AccountFactory(payment_mode="prepaid")
    payment_request_top_up(account_id=prepaid.pk, amount="25", gateway="test", requested_by=clerk)
    assert balance(prepaid) == 25
    books_are_clean()


def test_staff_confirm_an_invoice_request_from_the_admin(client, account, customer, clerk):
    invoice = october_invoice(account)
    asked = payment_request_for_invoice(
        invoice_id=invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    client.force_login(clerk)
    page = client.get(f"/admin/subscriptions/paymentrequest/{asked.pk}/change/")
    assert invoice.number.encode() in page.content
    client.post(
        "/admin/subscriptions/paymentrequest/",
        {"action": "confirm_money_received", "_selected_action": [asked.pk]},
    )
    assert PaymentRequest.objects.get(pk=asked.pk).status == PaymentRequestStatus.SUCCEEDED
    assert reload(invoice).status == InvoiceStatus.PAID
    assert client.get("/admin/subscriptions/paymentrequest/").status_code == 200


def test_the_api_confirms_an_invoice_request_and_names_the_invoice(account, customer):
    invoice = october_invoice(account)
    asked = payment_request_for_invoice(
        invoice_id=invoice.pk, gateway="bank_transfer", requested_by=customer
    )
    response = client_for(staff_user("Billing staff")).post(
        f"/api/v1/payment-requests/{asked.pk}/confirm/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["invoice"], response.json()["subscription"]) == (invoice.pk, None)
    assert reload(invoice).status == InvoiceStatus.PAID
