"""External ERP invoicing mode (docs/design.md §4 "External ERP mode").

With the system setting "external system generates invoices" on:

1. On the billing day the monthly run closes the period's charges on each postpaid and
   credit invoice and leaves it `open` (issue.py): no payment, no approval.
2. The next day's cycle closes it (`invoicing_close_erp`): `open` → `closed`, and its
   payment is created `waiting_for_payment` with no due date. Such a payment can be
   neither paid (money on the balance leaves a closed invoice alone) nor approved.
3. The ERP approves the invoice (`invoice_approve`): the payment's due date is set and
   the invoice is `approved`; optionally an external total and currency (when they
   differ from the platform's, the invoice is not payable from balance) and a link to
   the ERP's document. It may attach the document itself (`invoice_attach_receipt`),
   which the invoice's PDF download then serves.
4. Once the client paid the ERP's invoice, the ERP approves the payment
   (`payment_approve`): the money is booked in the ledger and applied to this invoice,
   the invoice is `paid`, the payment `completed`. Or it cancels it (`payment_cancel`).

Managers do the same by hand in the admin. With the setting off, the monthly run
approves postpaid and credit invoices itself, as before.
"""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from billing_site.after_commit import run_after_commit
from billing_site.exceptions import InvalidInput, NotFound, require_perm
from billing_site.money import (
    InvalidAmount,
    currency_places,
    is_known_currency,
    round_to_minor_unit,
    to_ledger_amount,
)
from ledger.services import lock_books
from notifications.models import EventType
from notifications.services import invoice_event

from .. import receipts
from ..exceptions import InvoiceStateError
from ..models import (
    UNPAID_STATUSES,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
)
from .issue import ERP_KINDS
from .lifecycle import (
    _transition,
    allocate_money,
    lock_invoice,
    log_payment_transition,
    log_transition,
    receive_money_for_invoice,
    warm_pdfs,
)

APPROVE_INVOICE = "invoicing.approve_invoice"
APPROVE_PAYMENT = "invoicing.approve_payment"
# A receipt belongs to an invoice the ERP is invoicing: from closed on, not once voided.
RECEIPT_STATUSES = (
    InvoiceStatus.CLOSED,
    InvoiceStatus.APPROVED,
    InvoiceStatus.OVERDUE,
    InvoiceStatus.PAID,
)
MAX_URL_LENGTH = 500
_url_validator = URLValidator(schemes=["http", "https"])


# -- 2. the day after the billing day ------------------------------------------------


def invoicing_close_erp(*, run_date: date) -> int:
    """ERP invoices issued before `run_date` and still open → closed, payment waiting.

    The payment has no due date until the ERP approves the invoice. Idempotent: an
    invoice closed already is skipped; each invoice commits on its own.
    """
    due = (
        Invoice.objects.filter(status=InvoiceStatus.OPEN, erp_managed=True, issued_on__lt=run_date)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    closed = 0
    for invoice_id in list(due):
        with transaction.atomic():
            _, invoice = lock_invoice(invoice_id)
            if invoice.status != InvoiceStatus.OPEN:
                continue  # closed or cancelled meanwhile
            before = _transition(invoice, "close", refusal="only an open invoice can be closed.")
            invoice.save()
            log_transition(
                invoice,
                before,
                reason="Period closed; waiting for the external ERP to approve it and set "
                "the due date.",
            )
            Payment.objects.get_or_create(invoice=invoice)
            warm_pdfs([invoice.pk])
            closed += 1
    return closed


# -- 3. the ERP approves the invoice -------------------------------------------------


def _clean_due_date(due_date) -> date:
    if due_date is None or due_date == "":
        raise InvalidInput(
            "A due date is required: approving an invoice fixes when its payment is due.",
            field="due_date",
        )
    if isinstance(due_date, str):
        try:
            due_date = date.fromisoformat(due_date)
        except ValueError:
            raise InvalidInput(
                f"{due_date!r} is not a date (YYYY-MM-DD).", field="due_date"
            ) from None
    if due_date < timezone.localdate():
        raise InvalidInput(
            f"The due date {due_date} is in the past; give today or a later day.",
            field="due_date",
        )
    return due_date


def _clean_external_total(total, currency) -> tuple[Decimal, str] | None:
    """(amount, ISO code) of the ERP's own invoice, or None when it gave neither."""
    if not isinstance(currency, str | None):
        raise InvalidInput("The external currency is an ISO 4217 code.", field="external_currency")
    currency = (currency or "").strip().upper()
    given_total = total is not None and total != ""
    if not given_total and not currency:
        return None
    if not given_total:
        raise InvalidInput(
            "An external currency comes with the external total it is for.",
            field="external_total",
        )
    if not currency:
        raise InvalidInput(
            "An external total needs its currency (external_currency, an ISO 4217 code).",
            field="external_currency",
        )
    if not is_known_currency(currency):
        raise InvalidInput(
            f"{currency!r} is not a known ISO 4217 currency code (such as EUR).",
            field="external_currency",
        )
    if isinstance(total, bool):
        raise InvalidInput("The external total is a decimal amount.", field="external_total")
    try:
        amount = to_ledger_amount(total)
    except InvalidAmount as exc:
        raise InvalidInput(str(exc), field="external_total") from None
    if amount <= 0:
        raise InvalidInput("The external total must be greater than zero.", field="external_total")
    if round_to_minor_unit(amount, currency) != amount:
        raise InvalidInput(
            f"{currency} amounts have at most {currency_places(currency)} decimal places.",
            field="external_total",
        )
    return amount, currency


def _clean_receipt_url(url) -> str:
    if not isinstance(url, str | None):
        raise InvalidInput("The receipt URL is a link.", field="receipt_url")
    url = (url or "").strip()
    if not url:
        return ""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(
            f"The receipt URL is a link of at most {MAX_URL_LENGTH} characters.",
            field="receipt_url",
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise InvalidInput(
            "The receipt URL must be an http:// or https:// link.", field="receipt_url"
        ) from None
    return url


def invoice_approve(
    *,
    invoice_id: int,
    due_date: date | str | None,
    external_total=None,
    external_currency: str | None = None,
    receipt_url: str | None = None,
    approved_by=None,
) -> Invoice:
    """closed → approved: the payment's due date is fixed and the client may pay.

    The ERP (or a manager) may give the total and currency of its own invoice; when
    they differ from the platform's, the invoice is not paid from the balance, only by
    other methods and then the payment's approval. Money already on the balance pays
    an invoice that is payable from it at once. Refusals change nothing: 400 for bad
    input (a past or missing due date, an unknown currency, a total ≤ 0 or with more
    places than its currency has, a link that is not http(s)), 409 for an invoice that
    is not closed.
    """
    require_perm(approved_by, APPROVE_INVOICE, "approve invoices")
    due_date = _clean_due_date(due_date)
    external = _clean_external_total(external_total, external_currency)
    url = _clean_receipt_url(receipt_url)
    with transaction.atomic():
        row, invoice = lock_invoice(invoice_id)
        before = _transition(
            invoice,
            "approve",
            refusal="only a closed invoice can be approved.",
            due_date=due_date,
            when=timezone.now(),
        )
        invoice.save()
        payment = Payment.objects.select_for_update().filter(invoice=invoice).first()
        payment = payment or Payment(invoice=invoice)
        payment.due_date = due_date
        payment.external_total, payment.external_currency = external or (None, "")
        if url:
            payment.receipt_url = url
        payment.save()
        reason = f"Approved, due {due_date:%Y-%m-%d}."
        if external:
            reason += f" External total {external[0].normalize():f} {external[1]}."
        log_transition(invoice, before, by=approved_by, reason=reason)
        invoice_event(EventType.INVOICE_APPROVED, invoice)
        allocate_money(row, by=approved_by)
        warm_pdfs([invoice.pk])
    return Invoice.objects.select_related("account", "payment").get(pk=invoice.pk)


# -- receipts ------------------------------------------------------------------------


def invoice_attach_receipt(*, invoice_id: int, upload, attached_by=None) -> Payment:
    """Attach the ERP's invoice document (a PDF) to the invoice's payment.

    Checked by content (it must start with %PDF-) and size (`receipts.MAX_BYTES`),
    stored privately under a random name; a receipt attached before is replaced, and
    its file removed once the new one is committed. From then on the invoice's PDF
    download serves it instead of the platform's own PDF.
    """
    require_perm(attached_by, APPROVE_INVOICE, "attach receipts to invoices")
    data = receipts.read_checked(upload)
    with transaction.atomic():
        _, invoice = lock_invoice(invoice_id)
        if not invoice.erp_managed:
            raise InvoiceStateError(
                f"Invoice {invoice.number} is invoiced by the platform itself, not by the "
                "external ERP: it has no ERP receipt.",
                field="invoice",
            )
        if invoice.status not in RECEIPT_STATUSES:
            raise InvoiceStateError(
                f"Invoice {invoice.number} is {invoice.status}: a receipt is attached to a "
                "closed, approved, overdue or paid invoice.",
                field="status",
            )
        payment = Payment.objects.select_for_update().get(invoice=invoice)
        previous = payment.receipt_file
        name = receipts.store(data)
        try:
            payment.receipt_file = name
            payment.receipt_uploaded_at = timezone.now()
            payment.save(update_fields=["receipt_file", "receipt_uploaded_at"])
        except BaseException:
            receipts.delete(name)
            raise
        if previous and previous != name:
            run_after_commit(
                lambda: receipts.delete(previous),
                what=f"deleting the replaced receipt {previous} of invoice {invoice.pk}",
                recovery="the file stays behind, unused; delete it by hand",
            )
    return payment


def invoice_attach_receipt_for_period(
    *, account_id: int, period_start: date, upload, attached_by=None
) -> Payment:
    """The same, for the ERP that knows its invoice by account and billing period start."""
    invoice_id = (
        Invoice.objects.filter(
            account_id=account_id,
            period_start=period_start,
            kind__in=ERP_KINDS,
            erp_managed=True,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if invoice_id is None:
        raise NotFound(
            f"Account {account_id} has no invoice of the external ERP for the billing "
            f"period starting {period_start}.",
            field="period_start",
        )
    return invoice_attach_receipt(invoice_id=invoice_id, upload=upload, attached_by=attached_by)


# -- 4. the ERP approves or cancels the payment --------------------------------------


def lock_payment(payment_id: int) -> tuple[Invoice, Payment]:
    """Lock the books of the payment's account, then its invoice and the payment."""
    found = (
        Payment.objects.filter(pk=payment_id)
        .values_list("invoice_id", "invoice__account_id")
        .first()
    )
    if found is None:
        raise NotFound(f"Payment {payment_id} does not exist.", field="payment")
    invoice_id, account_id = found
    lock_books(account_id)  # the order every invoice service takes: books, invoice, payment
    invoice = Invoice.objects.select_for_update().select_related("account").get(pk=invoice_id)
    return invoice, Payment.objects.select_for_update().get(pk=payment_id)


def _refuse_unless_waiting(payment: Payment, action: str) -> None:
    if payment.status != PaymentStatus.WAITING:
        raise InvoiceStateError(
            f"Payment {payment.pk} is {payment.get_status_display().lower()}: only a payment "
            f"waiting for payment can be {action}.",
            field="status",
        )


def payment_approve(*, payment_id: int, approved_by=None) -> Payment:
    """The client paid outside the platform: book the money, the invoice is paid.

    Books the invoice's outstanding amount (in the platform's currency, whatever the
    external total) as money received, applied to this invoice first even when an older
    invoice is unpaid; invoice → paid, payment → completed, and the credit is unblocked
    if no overdue invoice is left. A payment without a due date is still waiting for the
    ERP to approve the invoice and cannot be approved (409), nor can one that is not
    waiting. Booked once: the ledger key is the payment's own.
    """
    require_perm(approved_by, APPROVE_PAYMENT, "approve payments")
    with transaction.atomic():
        invoice, payment = lock_payment(payment_id)
        _refuse_unless_waiting(payment, "approved")
        if payment.due_date is None:
            raise InvoiceStateError(
                f"Payment {payment.pk} has no due date: it is waiting for the ERP to approve "
                f"invoice {invoice.number} and set a due date, and cannot be approved or paid "
                "until then.",
                field="due_date",
            )
        amount = invoice.outstanding
        if invoice.status not in UNPAID_STATUSES or amount <= 0:
            raise InvoiceStateError(
                f"Invoice {invoice.number} is {invoice.status}: there is nothing left to pay "
                "on it.",
                field="status",
            )
        receive_money_for_invoice(
            invoice,
            amount,
            idempotency_key=f"erp-payment:{payment.pk}",
            reference=f"Paid outside the platform for {invoice.number}",
            reason=f"Paid outside the platform for {invoice.number}; payment approved.",
            by=approved_by,
        )
    return Payment.objects.select_related("invoice__account").get(pk=payment.pk)


def payment_cancel(*, payment_id: int, cancelled_by=None, reason: str = "") -> Payment:
    """waiting → cancelled: the client is no longer asked to pay through this payment.

    For a payment the ERP withdrew (its own invoice voided or settled in another way).
    The invoice stays as it is, amount owed included: it still shows in the client's
    debt, money on the balance still pays it when it is payable from balance (the
    cancelled payment stays cancelled), and it can still become overdue. To void the
    debt itself, cancel the invoice (`invoice_cancel`), which reverses its charges. A
    cancelled payment cannot be approved again.
    """
    require_perm(cancelled_by, APPROVE_PAYMENT, "cancel payments")
    reason = (reason or "").strip()[:300]
    with transaction.atomic():
        _, payment = lock_payment(payment_id)
        _refuse_unless_waiting(payment, "cancelled")
        payment.cancel(when=timezone.now())
        payment.save()
        log_payment_transition(
            payment, PaymentStatus.WAITING, by=cancelled_by, reason=reason or "Cancelled."
        )
    return Payment.objects.select_related("invoice__account").get(pk=payment.pk)
