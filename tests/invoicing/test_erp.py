"""External ERP mode: the platform closes invoices, the ERP approves them and their payments.

docs/design.md §4 "External ERP mode" and: on the billing day the period's charges are
closed on an open invoice; the next day it is closed with a payment waiting and no due
date, which can be neither paid nor approved; the ERP approves the invoice (due date,
maybe an external total that keeps it off the balance), attaches its receipt, and
approves the payment once paid.
"""

from datetime import date
from decimal import Decimal
from io import BytesIO, StringIO

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from accounts.models import BillingAccount, CreditStatus
from approvals.services import settings_update
from billing_site.cycle import STEPS
from billing_site.exceptions import InvalidInput, NotFound, PermissionRefused
from invoicing import receipts
from invoicing.exceptions import InvoiceStateError
from invoicing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    InvoiceStatusChange,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    PaymentStatusChange,
)
from invoicing.pdf import invoice_document, invoice_pdf_html
from invoicing.services import (
    invoice_approve,
    invoice_attach_receipt,
    invoice_attach_receipt_for_period,
    invoice_cancel,
    invoicing_close_erp,
    payment_approve,
    payment_cancel,
)
from ledger.models import Entry, EntryKind
from ledger.selectors import account_figures
from notifications.models import Event, EventType
from tests.factories import AccountFactory, UserFactory, staff_user
from tests.pdfs import minimal_pdf

from .helpers import assert_books_agree, at, charge, footprint, pay, reload, run_cycle

pytestmark = pytest.mark.django_db

PDF = minimal_pdf()  # a receipt must be a PDF a reader opens


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Receipts go to a fresh folder per test."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def manager():
    return staff_user("Managers")


@pytest.fixture
def erp_mode(manager):
    settings_update(changed_by=manager, external_invoicing=True)


@pytest.fixture
def postpaid():
    return AccountFactory(payment_mode="postpaid")


@pytest.fixture
def credit():
    return AccountFactory(payment_mode="credit_limit", credit_limit="1000")


def erp_invoice(account, amount="100", *, close=True) -> Invoice:
    """October's charges invoiced on 1 Nov (open) and, with `close`, closed on 2 Nov."""
    charge(account, amount, at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    if close:
        run_cycle("2026-11-02")
    return Invoice.objects.get(account=account, period_start=date(2026, 10, 1))


def approve(invoice, by, *, due="2026-11-20", when=None, **extra):
    """Approved on 3 Nov (or `when`), due on `due`."""
    with time_machine.travel(when or at(2026, 11, 3, 10), tick=False):
        return invoice_approve(
            invoice_id=invoice.pk, due_date=date.fromisoformat(due), approved_by=by, **extra
        )


def upload(data=PDF, name="erp-invoice.pdf", content_type="application/pdf"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def credit_status(account):
    return BillingAccount.objects.get(pk=account.pk).credit_status


def events(kind):
    return Event.objects.filter(type=kind).count()


# -- the billing day and the next -----------------------------------------------------


@pytest.mark.usefixtures("erp_mode")
def test_on_the_billing_day_postpaid_and_credit_invoices_stay_open_with_their_charges(
    postpaid, credit
):
    prepaid = AccountFactory(funds="50")
    for account in (postpaid, credit, prepaid):
        charge(account, "12.345", at(2026, 10, 10, 12))

    run_cycle("2026-11-01")

    for account in (postpaid, credit):
        invoice = Invoice.objects.get(account=account)
        assert (invoice.status, invoice.erp_managed) == (InvoiceStatus.OPEN, True)
        assert (invoice.total, invoice.due_date, invoice.approved_at) == (
            Decimal("12.35"),
            None,
            None,
        )
        assert not Payment.objects.filter(invoice=invoice).exists()
        # The period's charges are closed on the invoice: nothing is left unbilled.
        assert account_figures(account.pk).unbilled == 0
    statement = Invoice.objects.get(account=prepaid)
    assert (statement.kind, statement.status, statement.erp_managed) == (
        InvoiceKind.STATEMENT,
        InvoiceStatus.PAID,
        False,
    )
    assert events(EventType.INVOICE_APPROVED) == 0
    assert_books_agree()


@pytest.mark.usefixtures("erp_mode")
def test_the_next_day_the_invoice_is_closed_and_its_payment_waits_without_a_due_date(credit):
    invoice = erp_invoice(credit, close=False)
    run_cycle("2026-11-01")  # the same day again: nothing to close yet
    assert reload(invoice).status == InvoiceStatus.OPEN

    output = run_cycle("2026-11-02")

    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.CLOSED
    assert "close erp invoices: 1" in output
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.due_date) == (PaymentStatus.WAITING, None)
    assert list(
        InvoiceStatusChange.objects.filter(invoice=invoice).values_list("from_status", "to_status")
    ) == [("", "open"), ("open", "closed")]
    assert events(EventType.INVOICE_APPROVED) == 0

    before = footprint()
    run_cycle("2026-11-02")
    run_cycle("2026-11-03")
    assert footprint() == before  # idempotent


def test_close_step_runs_after_invoicing_in_the_calendar():
    names = [step.name for step in STEPS]
    assert names.index("Invoice last month") < names.index("Close ERP invoices")


def test_with_the_setting_off_the_platform_approves_its_own_invoices_as_before(credit):
    charge(credit, "40", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    run_cycle("2026-11-02")

    invoice = Invoice.objects.get(account=credit)
    assert (invoice.status, invoice.erp_managed) == (InvoiceStatus.APPROVED, False)
    assert invoice.due_date == date(2026, 11, 15)
    assert Payment.objects.get(invoice=invoice).due_date == date(2026, 11, 15)
    assert events(EventType.INVOICE_APPROVED) == 1
    assert invoicing_close_erp(run_date=date(2026, 11, 5)) == 0


def test_switching_the_setting_off_does_not_strand_open_invoices(manager, credit):
    settings_update(changed_by=manager, external_invoicing=True)
    invoice = erp_invoice(credit, close=False)
    settings_update(changed_by=manager, external_invoicing=False)

    run_cycle("2026-11-02")

    assert reload(invoice).status == InvoiceStatus.CLOSED  # still the ERP's to approve


@pytest.mark.usefixtures("erp_mode")
def test_invoices_issued_by_hand_are_not_left_to_the_erp(manager):
    from invoicing.services import invoice_issue_now

    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    charge(account, "10", at(2026, 10, 10, 12))
    with time_machine.travel(at(2026, 10, 20, 9)):
        invoice = invoice_issue_now(account_id=account.pk, issued_by=manager)
    assert (invoice.status, invoice.erp_managed) == (InvoiceStatus.APPROVED, False)


# -- waiting: neither paid nor approved -----------------------------------------------


@pytest.mark.usefixtures("erp_mode")
def test_money_received_while_the_invoice_waits_stays_on_the_balance_until_approval(
    postpaid, manager
):
    invoice = erp_invoice(postpaid)
    pay(postpaid, "100", at(2026, 11, 2, 15))

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.CLOSED, 0)
    assert not PaymentAllocation.objects.exists()
    assert account_figures(postpaid.pk).balance == 0

    approve(invoice, manager)  # same total and currency: the balance pays it at once

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, Decimal("100"))
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.COMPLETED
    assert_books_agree()


@pytest.mark.usefixtures("erp_mode")
def test_a_payment_without_a_due_date_cannot_be_approved(postpaid, manager):
    invoice = erp_invoice(postpaid)
    payment = Payment.objects.get(invoice=invoice)
    before = footprint()

    with pytest.raises(InvoiceStateError, match="waiting for the ERP to approve") as refused:
        payment_approve(payment_id=payment.pk, approved_by=manager)

    assert refused.value.code == "invalid_transition"
    assert footprint() == before
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.WAITING


# -- the ERP approves the invoice -----------------------------------------------------


@pytest.mark.usefixtures("erp_mode")
def test_approving_sets_the_payment_due_date_and_announces_the_invoice(credit, manager):
    invoice = erp_invoice(credit)

    approved = approve(invoice, manager, receipt_url="https://erp.example/inv/77.pdf")

    assert (approved.status, approved.due_date) == (InvoiceStatus.APPROVED, date(2026, 11, 20))
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.due_date) == (PaymentStatus.WAITING, date(2026, 11, 20))
    assert payment.receipt_url == "https://erp.example/inv/77.pdf"
    assert (payment.external_total, payment.external_currency) == (None, "")
    log = InvoiceStatusChange.objects.filter(invoice=invoice).last()
    assert (log.from_status, log.to_status, log.changed_by) == ("closed", "approved", manager)
    assert events(EventType.INVOICE_APPROVED) == 1


@pytest.mark.usefixtures("erp_mode")
@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"due": "2026-11-02"}, "due_date", "in the past"),
        ({"external_total": "-5", "external_currency": "EUR"}, "external_total", "greater than"),
        ({"external_total": "0", "external_currency": "EUR"}, "external_total", "greater than"),
        ({"external_total": "90", "external_currency": "XYZ"}, "external_currency", "ISO 4217"),
        ({"external_total": "90.001", "external_currency": "EUR"}, "external_total", "2 decimal"),
        ({"external_total": "9000.5", "external_currency": "JPY"}, "external_total", "0 decimal"),
        ({"external_total": "abc", "external_currency": "EUR"}, "external_total", "not a number"),
        ({"external_total": "90"}, "external_currency", "needs its currency"),
        ({"external_currency": "EUR"}, "external_total", "comes with"),
        ({"receipt_url": "ftp://erp.example/x.pdf"}, "receipt_url", "http"),
        ({"receipt_url": "javascript:alert(1)"}, "receipt_url", "http"),
    ],
)
def test_bad_approval_input_is_refused_naming_the_field_and_changes_nothing(
    credit, manager, extra, field, words
):
    invoice = erp_invoice(credit)
    before = footprint()
    due = extra.pop("due", "2026-11-20")

    with pytest.raises(InvalidInput) as refused:
        approve(invoice, manager, due=due, **extra)

    assert refused.value.field == field
    assert words in refused.value.detail
    assert footprint() == before
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.due_date, payment.external_total, payment.receipt_url) == (None, None, "")
    assert events(EventType.INVOICE_APPROVED) == 0


@pytest.mark.usefixtures("erp_mode")
def test_a_missing_due_date_is_refused(credit, manager):
    invoice = erp_invoice(credit)
    with pytest.raises(InvalidInput, match="due date is required") as refused:
        invoice_approve(invoice_id=invoice.pk, due_date=None, approved_by=manager)
    assert refused.value.field == "due_date"


@pytest.mark.usefixtures("erp_mode")
def test_only_a_closed_invoice_can_be_approved(credit, manager):
    invoice = erp_invoice(credit, close=False)
    with pytest.raises(InvoiceStateError, match="is open: only a closed invoice"):
        approve(invoice, manager)

    run_cycle("2026-11-02")
    approve(invoice, manager)
    before = footprint()
    with pytest.raises(InvoiceStateError, match="is approved"):
        approve(invoice, manager, due="2026-12-01")
    assert footprint() == before
    assert Payment.objects.get(invoice=invoice).due_date == date(2026, 11, 20)


@pytest.mark.usefixtures("erp_mode")
def test_approving_needs_the_permission(credit):
    invoice = erp_invoice(credit)
    with pytest.raises(PermissionRefused):
        approve(invoice, staff_user("Billing staff"))
    assert reload(invoice).status == InvoiceStatus.CLOSED


@pytest.mark.usefixtures("erp_mode")
def test_an_external_total_in_another_currency_keeps_the_invoice_off_the_balance(postpaid, manager):
    invoice = erp_invoice(postpaid)
    pay(postpaid, "30", at(2026, 11, 2, 15))  # waiting on the balance

    approve(invoice, manager, external_total="92.50", external_currency="eur")

    invoice = reload(invoice)
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.external_total, payment.external_currency) == (Decimal("92.5"), "EUR")
    assert invoice.payable_from_balance is False
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.APPROVED, 0)

    pay(postpaid, "200", at(2026, 11, 4, 9))  # more money: still not applied to it

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.APPROVED, 0)
    assert not PaymentAllocation.objects.filter(invoice=invoice).exists()
    assert account_figures(postpaid.pk).balance == Decimal("130")
    assert "Amount to pay" in invoice_pdf_html(invoice)
    assert "92.50 EUR" in invoice_pdf_html(invoice)
    assert_books_agree()


@pytest.mark.usefixtures("erp_mode")
def test_an_external_total_keeps_the_invoice_off_the_balance_after_its_payment_is_cancelled(
    postpaid, manager
):
    invoice = erp_invoice(postpaid)
    approve(invoice, manager, external_total="92.50", external_currency="EUR")
    with time_machine.travel(at(2026, 11, 3, 9), tick=False):
        payment_cancel(payment_id=Payment.objects.get(invoice=invoice).pk, cancelled_by=manager)

    pay(postpaid, "200", at(2026, 11, 4, 9))

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.APPROVED, 0)
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.CANCELLED
    assert_books_agree()


@pytest.mark.usefixtures("erp_mode")
def test_an_external_total_equal_to_the_platforms_is_still_paid_from_balance(postpaid, manager):
    invoice = erp_invoice(postpaid)
    approve(invoice, manager, external_total="100.00", external_currency="USD")

    assert reload(invoice).payable_from_balance is True
    pay(postpaid, "100", at(2026, 11, 4, 9))

    assert reload(invoice).status == InvoiceStatus.PAID


# -- the ERP approves or cancels the payment ------------------------------------------


@pytest.mark.usefixtures("erp_mode")
def test_approving_the_payment_books_the_money_and_pays_this_invoice_first(manager):
    account = AccountFactory(payment_mode="postpaid")
    charge(account, "40", at(2026, 9, 10, 12))
    run_cycle("2026-10-01")  # September, in ERP mode too
    run_cycle("2026-10-02")
    september = Invoice.objects.get(account=account)
    approve(september, manager, due="2026-10-30", when=at(2026, 10, 3))
    october = erp_invoice(account, "100")
    approve(october, manager, external_total="95", external_currency="EUR")

    with time_machine.travel(at(2026, 11, 10, 9), tick=False):
        completed = payment_approve(
            payment_id=Payment.objects.get(invoice=october).pk, approved_by=manager
        )

    assert (completed.status, completed.completed_at) == (
        PaymentStatus.COMPLETED,
        at(2026, 11, 10, 9),
    )
    october = reload(october)
    assert (october.status, october.amount_paid) == (InvoiceStatus.PAID, Decimal("100"))
    assert reload(september).amount_paid == 0  # the older invoice is still owed
    entry = Entry.objects.get(account=account, idempotency_key=f"erp-payment:{completed.pk}")
    assert (entry.kind, entry.amount, entry.created_by) == (
        EntryKind.PAYMENT,
        Decimal("100"),
        manager,
    )
    assert october.number in entry.description
    assert account_figures(account.pk).amount_due == Decimal("-40")
    log = PaymentStatusChange.objects.get(payment=completed)
    assert (log.from_status, log.to_status, log.changed_by) == (
        "waiting_for_payment",
        "completed",
        manager,
    )
    assert events(EventType.INVOICE_PAID) == 1
    assert_books_agree()
    call_command("verify_ledger", stdout=StringIO())

    before = footprint()
    with pytest.raises(InvoiceStateError, match="is completed"):
        payment_approve(payment_id=completed.pk, approved_by=manager)
    assert footprint() == before


@pytest.mark.usefixtures("erp_mode")
def test_approving_the_payment_of_an_overdue_invoice_unblocks_the_credit(credit, manager):
    invoice = erp_invoice(credit)
    approve(invoice, manager, due="2026-11-20")
    run_cycle("2026-11-21")
    assert reload(invoice).status == InvoiceStatus.OVERDUE
    assert credit_status(credit) == CreditStatus.BLOCKED

    with time_machine.travel(at(2026, 11, 22, 9)):
        payment_approve(payment_id=Payment.objects.get(invoice=invoice).pk, approved_by=manager)

    assert reload(invoice).status == InvoiceStatus.PAID
    assert credit_status(credit) == CreditStatus.ACTIVE
    assert_books_agree()


@pytest.mark.usefixtures("erp_mode")
def test_a_partly_paid_invoice_books_only_what_is_outstanding(postpaid, manager):
    invoice = erp_invoice(postpaid)
    approve(invoice, manager)
    pay(postpaid, "30", at(2026, 11, 4, 9))
    assert reload(invoice).amount_paid == Decimal("30")

    payment = payment_approve(
        payment_id=Payment.objects.get(invoice=invoice).pk, approved_by=manager
    )

    assert Entry.objects.get(idempotency_key=f"erp-payment:{payment.pk}").amount == Decimal("70")
    assert reload(invoice).status == InvoiceStatus.PAID
    assert account_figures(postpaid.pk).balance == 0
    assert_books_agree()


@pytest.mark.usefixtures("erp_mode")
def test_cancelling_a_payment_leaves_the_invoice_as_it_is(credit, manager):
    invoice = erp_invoice(credit)
    approve(invoice, manager)
    payment = Payment.objects.get(invoice=invoice)

    cancelled = payment_cancel(
        payment_id=payment.pk, cancelled_by=manager, reason="ERP voided its invoice"
    )

    assert cancelled.status == PaymentStatus.CANCELLED
    assert cancelled.cancelled_at is not None
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.APPROVED, 0)
    log = PaymentStatusChange.objects.get(payment=payment)
    assert (log.to_status, log.reason) == ("cancelled", "ERP voided its invoice")
    before = footprint()
    with pytest.raises(InvoiceStateError, match="is cancelled"):
        payment_approve(payment_id=payment.pk, approved_by=manager)
    with pytest.raises(InvoiceStateError, match="is cancelled"):
        payment_cancel(payment_id=payment.pk, cancelled_by=manager)
    assert footprint() == before


@pytest.mark.usefixtures("erp_mode")
def test_payments_are_approved_and_cancelled_only_with_the_permission(credit, manager):
    invoice = erp_invoice(credit)
    approve(invoice, manager)
    payment = Payment.objects.get(invoice=invoice)
    clerk = staff_user("Billing staff")
    with pytest.raises(PermissionRefused):
        payment_approve(payment_id=payment.pk, approved_by=clerk)
    with pytest.raises(PermissionRefused):
        payment_cancel(payment_id=payment.pk, cancelled_by=clerk)
    with pytest.raises(NotFound):
        payment_approve(payment_id=999999, approved_by=manager)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.WAITING
    assert Permission.objects.filter(group__name="Managers", codename="approve_payment").exists()


@pytest.mark.usefixtures("erp_mode")
def test_cancelling_the_invoice_cancels_its_waiting_payment_with_a_log(credit, manager):
    invoice = erp_invoice(credit)
    invoice_cancel(invoice_id=invoice.pk, reason="Duplicate", cancelled_by=manager)

    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == PaymentStatus.CANCELLED
    assert PaymentStatusChange.objects.get(payment=payment).reason == "The invoice was cancelled."
    assert_books_agree()


# -- receipts -------------------------------------------------------------------------


@pytest.mark.usefixtures("erp_mode")
def test_a_receipt_is_stored_privately_under_a_random_name_and_served_as_the_pdf(
    credit, manager, private_media
):
    invoice = erp_invoice(credit)

    payment = invoice_attach_receipt(
        invoice_id=invoice.pk, upload=upload(name="../../etc/evil.pdf"), attached_by=manager
    )

    assert payment.receipt_file.startswith("receipts/")
    assert "evil" not in payment.receipt_file
    stored = private_media / payment.receipt_file
    assert stored.read_bytes() == PDF
    assert len(stored.stem) == 32
    assert payment.receipt_uploaded_at is not None
    assert invoice_document(reload(invoice)) == PDF


@pytest.mark.usefixtures("erp_mode")
def test_without_a_receipt_the_platform_renders_its_own_pdf(credit):
    import pypdf

    invoice = erp_invoice(credit)
    data = invoice_document(invoice)
    text = pypdf.PdfReader(BytesIO(data)).pages[0].extract_text()
    assert invoice.number in text


@pytest.mark.usefixtures("erp_mode")
def test_a_new_receipt_replaces_the_old_file_once_committed(
    credit, manager, private_media, django_capture_on_commit_callbacks
):
    invoice = erp_invoice(credit)
    first = invoice_attach_receipt(invoice_id=invoice.pk, upload=upload(), attached_by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        second = invoice_attach_receipt(
            invoice_id=invoice.pk, upload=upload(PDF + b"% v2\n"), attached_by=manager
        )

    assert first.receipt_file != second.receipt_file
    assert not (private_media / first.receipt_file).exists()
    assert (private_media / second.receipt_file).read_bytes() == PDF + b"% v2\n"


@pytest.mark.usefixtures("erp_mode")
@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<html>not a pdf</html>", "must be a PDF"),
        (b"", "empty"),
        (b"%PDF-" + b"0" * receipts.MAX_BYTES, "10 MiB"),
    ],
)
def test_a_receipt_that_is_not_a_pdf_or_too_large_is_refused(
    credit, manager, private_media, data, words
):
    invoice = erp_invoice(credit)

    with pytest.raises(InvalidInput, match=words) as refused:
        invoice_attach_receipt(invoice_id=invoice.pk, upload=upload(data), attached_by=manager)

    assert refused.value.field == "file"
    assert Payment.objects.get(invoice=invoice).receipt_file == ""
    assert not (private_media / "receipts").exists() or not any(
        (private_media / "receipts").iterdir()
    )


@pytest.mark.usefixtures("erp_mode")
def test_the_content_decides_not_the_name_or_type(credit, manager):
    invoice = erp_invoice(credit)
    with pytest.raises(InvalidInput, match="must be a PDF"):
        invoice_attach_receipt(
            invoice_id=invoice.pk,
            upload=upload(b"MZ\x90\x00 binary", name="receipt.pdf"),
            attached_by=manager,
        )
    payment = invoice_attach_receipt(
        invoice_id=invoice.pk,
        upload=upload(PDF, name="scan.bin", content_type="application/octet-stream"),
        attached_by=manager,
    )
    assert payment.receipt_file


@pytest.mark.usefixtures("erp_mode")
def test_receipts_belong_to_erp_invoices_from_closed_on(credit, manager):
    invoice = erp_invoice(credit, close=False)
    with pytest.raises(InvoiceStateError, match="is open"):
        invoice_attach_receipt(invoice_id=invoice.pk, upload=upload(), attached_by=manager)

    platform = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    with time_machine.travel(at(2026, 11, 5)):
        settings_update(changed_by=manager, external_invoicing=False)
    charge(platform, "10", at(2026, 11, 10))
    run_cycle("2026-12-01")
    own = Invoice.objects.get(account=platform)
    with pytest.raises(InvoiceStateError, match="platform itself"):
        invoice_attach_receipt(invoice_id=own.pk, upload=upload(), attached_by=manager)
    with pytest.raises(PermissionRefused):
        invoice_attach_receipt(
            invoice_id=invoice.pk, upload=upload(), attached_by=staff_user("Billing staff")
        )


@pytest.mark.usefixtures("erp_mode")
def test_a_receipt_is_matched_by_account_and_billing_period_start(credit, manager):
    invoice = erp_invoice(credit)

    payment = invoice_attach_receipt_for_period(
        account_id=credit.pk, period_start=date(2026, 10, 1), upload=upload(), attached_by=manager
    )

    assert payment.invoice_id == invoice.pk
    with pytest.raises(NotFound) as missing:
        invoice_attach_receipt_for_period(
            account_id=credit.pk,
            period_start=date(2026, 9, 1),
            upload=upload(),
            attached_by=manager,
        )
    assert missing.value.field == "period_start"


def test_a_user_without_any_permission_cannot_act(credit):
    nobody = UserFactory()
    with pytest.raises(PermissionRefused):
        payment_cancel(payment_id=1, cancelled_by=nobody)


def test_money_received_pays_the_oldest_invoice_while_a_later_one_waits_for_the_erp(manager):
    """An open ERP invoice is billed (it lowers amount due) but cannot be paid yet: the
    money it does not take yet still pays the older approved invoice in full."""
    account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    charge(account, "300", at(2026, 10, 10))
    run_cycle("2026-11-01")
    october = Invoice.objects.get(account=account)
    assert (october.status, october.total) == (InvoiceStatus.APPROVED, Decimal("300.00"))
    settings_update(changed_by=manager, external_invoicing=True)
    charge(account, "200", at(2026, 11, 10))
    run_cycle("2026-12-01")
    november = Invoice.objects.get(account=account, period_start=date(2026, 11, 1))
    assert november.status == InvoiceStatus.OPEN

    pay(account, "300", at(2026, 12, 1, 9))

    october = reload(october)
    assert (october.status, october.amount_paid) == (InvoiceStatus.PAID, Decimal("300.00"))
    assert reload(november).amount_paid == 0
    assert account_figures(account.pk).amount_due == Decimal("-200.00")
    assert_books_agree()
