"""Single-invoice transitions and applying money received (docs/design.md §4).

Each service locks the account's books first (the same lock every spend takes), then
moves the invoice with its django-fsm transition, logs the move, and does the side
effects (payment state, credit unblocking).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from accounts.models import CreditStatus, PaymentMode
from accounts.services import (
    account_block_credit,
    account_restate_credit_block,
    account_unblock_credit,
)
from billing_site.after_commit import queue_after_commit
from billing_site.bulk import bulk_insert, bulk_update_fields
from billing_site.exceptions import InvalidInput, NotFound, require_perm
from ledger.models import Balance, Entry, EntryKind, bill_at_for
from ledger.services import lock_books
from notifications.models import EventType
from notifications.services import invoice_event, invoice_events_bulk

from ..exceptions import InvoiceStateError
from ..models import (
    UNPAID_STATUSES,
    Invoice,
    InvoiceStatus,
    InvoiceStatusChange,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    PaymentStatusChange,
)
from ..selectors import oldest_overdue_invoice


def warm_pdfs(invoice_ids: list[int]) -> None:
    """After commit, have a worker render the changed invoices' PDFs into the cache.

    Only a head start: a PDF whose version is stale is rendered when it is asked for, so
    a broker that cannot take the task costs a slower first download, never the change.
    """
    if not invoice_ids or not settings.INVOICE_PDF_WARM_CACHE:
        return
    from ..tasks import render_invoice_pdfs  # tasks import the services

    queue_after_commit(
        render_invoice_pdfs,
        list(invoice_ids),
        recovery="each PDF is rendered when it is first downloaded",
    )


def log_transition(invoice: Invoice, before: str, *, by=None, reason: str = "") -> None:
    InvoiceStatusChange.objects.create(
        invoice=invoice, from_status=before, to_status=invoice.status, changed_by=by, reason=reason
    )


def lock_invoice(invoice_id: int) -> tuple[Balance, Invoice]:
    """Lock the books of the invoice's account, then read the invoice (current under it)."""
    account_id = Invoice.objects.filter(pk=invoice_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(f"Invoice {invoice_id} does not exist.", field="invoice")
    row = lock_books(account_id)
    return row, Invoice.objects.select_related("account").get(pk=invoice_id)


def _transition(invoice: Invoice, method: str, *, refusal: str, **kwargs) -> str:
    before = invoice.status
    try:
        getattr(invoice, method)(**kwargs)
    except TransitionNotAllowed:
        raise InvoiceStateError(
            f"Invoice {invoice.number} is {invoice.status}: {refusal}", field="status"
        ) from None
    return before


def log_payment_transition(payment: Payment, before: str, *, by=None, reason: str = "") -> None:
    PaymentStatusChange.objects.create(
        payment=payment, from_status=before, to_status=payment.status, changed_by=by, reason=reason
    )


@dataclass
class _Settlement:
    """Money applied to locked invoices, with what that writes, collected so one invoice
    or a whole chunk's are written the same way (`write`)."""

    when: datetime
    by: object
    reason: str
    allocations: list = field(default_factory=list)
    invoices: list = field(default_factory=list)
    paid: list = field(default_factory=list)
    completed: list = field(default_factory=list)
    invoice_logs: list = field(default_factory=list)
    payment_logs: list = field(default_factory=list)

    def apply(self, invoice: Invoice, share, payment: Payment | None) -> bool:
        """Apply `share`; paid in full → paid, and its waiting payment completed."""
        invoice.amount_paid += share
        self.allocations.append(PaymentAllocation(invoice=invoice, amount=share))
        self.invoices.append(invoice)
        if invoice.amount_paid < invoice.total:
            return False
        before = _transition(invoice, "mark_paid", refusal="it cannot be paid.", when=self.when)
        self.invoice_logs.append(
            InvoiceStatusChange(
                invoice=invoice,
                from_status=before,
                to_status=invoice.status,
                changed_by=self.by,
                reason=self.reason,
            )
        )
        if payment is not None and payment.status == PaymentStatus.WAITING:
            payment.complete(when=self.when)
            self.completed.append(payment)
            self.payment_logs.append(
                PaymentStatusChange(
                    payment=payment,
                    from_status=PaymentStatus.WAITING,
                    to_status=payment.status,
                    changed_by=self.by,
                    reason=self.reason,
                )
            )
        self.paid.append(invoice)
        return True

    def write(self) -> None:
        bulk_insert(self.allocations)
        bulk_update_fields(self.invoices, ["amount_paid", "status", "paid_at"])
        bulk_update_fields(self.completed, ["status", "completed_at"])
        bulk_insert(self.invoice_logs)
        bulk_insert(self.payment_logs)


def apply_money(invoice: Invoice, share, *, when, by=None, reason: str) -> bool:
    """Apply `share` to a locked unpaid invoice; paid in full → paid, its payment completed.

    Saves the invoice; returns whether it is now paid (the caller emits invoice.paid).
    """
    settlement = _Settlement(when=when, by=by, reason=reason)
    waiting = Payment.objects.filter(invoice=invoice, status=PaymentStatus.WAITING).first()
    paid = settlement.apply(invoice, share, waiting)
    settlement.write()
    return paid


def receive_money_for_invoice(
    invoice: Invoice, amount, *, idempotency_key: str, reference: str, reason: str, by=None
):
    """Book `amount` received for a locked `invoice`, paying THIS invoice first.

    The money is applied to the invoice before it is booked, so the booking's own
    allocation (oldest unpaid first) finds nothing more owed here and only what is
    left over goes to older invoices or stays on the balance. Refuses a key booked
    before: money is never applied twice. Returns the ledger booking.
    """
    from ledger.services import ledger_receive_payment  # the ledger calls back into here

    share = min(amount, invoice.outstanding)
    paid = False
    if invoice.status in UNPAID_STATUSES and share > 0:
        paid = apply_money(invoice, share, when=timezone.now(), by=by, reason=reason)
    booking = ledger_receive_payment(
        account_id=invoice.account_id,
        amount=amount,
        idempotency_key=idempotency_key,
        reference=reference,
        created_by=by,
    )
    if booking.replayed:
        raise InvoiceStateError(
            f"The money for invoice {invoice.number} ({idempotency_key}) was booked already.",
            field="status",
        )
    if paid:
        invoice_event(EventType.INVOICE_PAID, invoice)
        lift_overdue_block(invoice.account_id, by=by)
    warm_pdfs([invoice.pk])
    return booking


# Billed and neither paid nor cancelled: what the account owes on its invoices. Only the
# approved and overdue ones (UNPAID_STATUSES) can be paid.
BILLED_UNSETTLED = (InvoiceStatus.OPEN, InvoiceStatus.CLOSED, *UNPAID_STATUSES)


def allocate_money(row: Balance, *, by=None) -> list[Invoice]:
    """Apply one account's unallocated money to its oldest unpaid invoices."""
    return allocate_money_many([row], by=by)


def allocate_money_many(rows: list[Balance], *, by=None) -> list[Invoice]:
    """Apply unallocated money to the oldest unpaid invoices of each locked row's account.

    Unallocated money is derived, not stored: amount due (money in − billed) plus what
    is still outstanding on unpaid invoices. An overpayment stays unallocated and pays
    the next invoice when that one is issued.

    Invoices not yet approved (`open`, `closed`: the ERP has not fixed their due date)
    are not unpaid yet, and an invoice whose ERP billed another total or currency is not
    payable from balance (`Invoice.payable_from_balance`): money stays on the balance
    for them, and the ERP approves their payment once paid by another method.

    Set-based for the monthly run's many accounts: one read of the unpaid invoices, one
    of their payments, and one bulk write per table, whatever the number of accounts.
    Returns the invoices paid in full.
    """
    if not rows:
        return []
    by_account = {row.account_id: row for row in rows}
    owed: dict[int, list[Invoice]] = {account_id: [] for account_id in by_account}
    for invoice in (
        Invoice.objects.filter(account_id__in=list(by_account), status__in=BILLED_UNSETTLED)
        .order_by("account_id", "issued_on", "id")
        .select_for_update()
    ):
        owed[invoice.account_id].append(invoice)
    plan: list[tuple[Invoice, object]] = []
    for account_id, invoices in owed.items():
        row = by_account[account_id]
        # Amount due already counts every billed invoice; what is owed on them comes back
        # in, including invoices the ERP has not approved yet (they wait, the money stays).
        available = (row.balance - row.unbilled) + sum(i.outstanding for i in invoices)
        if available > 0:
            plan += [(i, available) for i in invoices if i.status in UNPAID_STATUSES]
    if not plan:
        return []
    # Whatever its status: an ERP total that differs keeps balance money off the invoice
    # even once its payment was cancelled.
    payments = {
        p.invoice_id: p for p in Payment.objects.filter(invoice_id__in=[i.pk for i, _ in plan])
    }
    settlement = _Settlement(when=timezone.now(), by=by, reason="Paid by money received.")
    left: dict[int, object] = {}
    for invoice, available in plan:
        available = left.get(invoice.account_id, available)
        payment = payments.get(invoice.pk)
        if available <= 0 or (payment is not None and payment.differs_from(invoice)):
            continue
        share = min(available, invoice.outstanding)
        if share <= 0:
            continue
        left[invoice.account_id] = available - share
        settlement.apply(invoice, share, payment)
    if not settlement.invoices:
        return []
    settlement.write()
    paid = settlement.paid
    invoice_events_bulk(EventType.INVOICE_PAID, paid)
    for account_id in {i.account_id for i in paid}:
        if by_account[account_id].account.credit_blocked_by_overdue:
            lift_overdue_block(account_id, by=by)
    warm_pdfs([i.pk for i in settlement.invoices])
    return paid


def overdue_block_reason(invoice: Invoice) -> str:
    """The overdue rule's reason for a block, as the client reads it."""
    return f"Invoice {invoice.number} is overdue (due {invoice.due_date})."


def lift_overdue_block(account_id: int, *, by=None) -> bool:
    """Unblock credit the overdue rule blocked once no overdue invoice is left; while one
    is, the block names it (never an invoice paid meanwhile)."""
    account = lock_books(account_id).account
    if not (account.credit_status == CreditStatus.BLOCKED and account.credit_blocked_by_overdue):
        return False
    overdue = oldest_overdue_invoice(account_id)
    if overdue is not None:
        account_restate_credit_block(account_id=account_id, reason=overdue_block_reason(overdue))
        return False
    account_unblock_credit(
        account_id=account_id, reason="No overdue invoice is left.", changed_by=by
    )
    return True


def invoice_allocate_money(*, account_id: int, by=None) -> list[Invoice]:
    with transaction.atomic():
        return allocate_money(lock_books(account_id), by=by)


def invoice_cancel(*, invoice_id: int, reason: str, cancelled_by=None) -> Invoice:
    """Void an unpaid invoice and reverse what it billed with one adjustment entry."""
    require_perm(cancelled_by, "invoicing.cancel_invoice", "cancel invoices")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the invoice is cancelled.", field="reason")
    with transaction.atomic():
        row, invoice = lock_invoice(invoice_id)
        before = _transition(
            invoice, "cancel", refusal="only an invoice with no money applied can be cancelled."
        )
        invoice.save()
        payment = Payment.objects.filter(invoice=invoice, status=PaymentStatus.WAITING).first()
        if payment is not None:
            payment.cancel(when=timezone.now())
            payment.save()
            log_payment_transition(
                payment, PaymentStatus.WAITING, by=cancelled_by, reason="The invoice was cancelled."
            )
        if invoice.total:
            # Booked for the cancelled invoice by name, so it is billed there and the
            # voided debt leaves amount due, not the next invoice.
            now = timezone.now()
            Entry.objects.create(
                account_id=row.account_id,
                amount=invoice.total,
                kind=EntryKind.ADJUSTMENT,
                description=f"Reversal of cancelled invoice {invoice.number}",
                idempotency_key=f"invoice:{invoice.pk}:cancel",
                invoice=invoice,
                created_at=now,
                bill_at=bill_at_for(created_at=now, period_end=None, billed_until=row.billed_until),
                created_by=cancelled_by,
            )
            row.balance += invoice.total
            row.entry_count += 1
            row.save(update_fields=["balance", "entry_count", "updated_at"])
        log_transition(invoice, before, by=cancelled_by, reason=reason)
        lift_overdue_block(row.account_id, by=cancelled_by)
        warm_pdfs([invoice.pk])
    return invoice


def invoicing_mark_overdue(*, run_date: date) -> int:
    """approved invoices whose due date has passed → overdue; their credit → blocked."""
    due = Invoice.objects.filter(status=InvoiceStatus.APPROVED, due_date__lt=run_date).values_list(
        "pk", flat=True
    )
    moved = 0
    for invoice_id in list(due):
        with transaction.atomic():
            _, invoice = lock_invoice(invoice_id)
            if invoice.status != InvoiceStatus.APPROVED or not (
                invoice.due_date and invoice.due_date < run_date
            ):
                continue  # paid or moved meanwhile
            before = _transition(invoice, "mark_overdue", refusal="it cannot become overdue.")
            invoice.save()
            log_transition(invoice, before, reason=f"Unpaid after the due date {invoice.due_date}.")
            invoice_event(EventType.INVOICE_OVERDUE, invoice)
            warm_pdfs([invoice.pk])
            moved += 1
    block_accounts_with_overdue_invoices()
    return moved


def invoicing_remind_due(*, run_date: date) -> int:
    """Tell clients of approved invoices due within `due_reminder_days`; once per invoice.

    "Within" rather than "exactly N days before", so a missed day is caught up; the
    event's dedupe key makes a rerun, or the next day's run, send nothing again.
    """
    from approvals.services import system_settings

    days = system_settings().due_reminder_days
    if not days:
        return 0
    due = Invoice.objects.filter(
        status=InvoiceStatus.APPROVED,
        due_date__gte=run_date,
        due_date__lte=run_date + timedelta(days=days),
    ).order_by("due_date", "pk")
    sent = 0
    for invoice in due:
        with transaction.atomic():
            sent += bool(
                invoice_event(
                    EventType.PAYMENT_DUE_SOON, invoice, dedupe_key=f"payment.due_soon:{invoice.pk}"
                )
            )
    return sent


def block_accounts_with_overdue_invoices() -> int:
    """Block every active credit-limit account that has an overdue invoice.

    Postpaid and prepaid accounts are never blocked automatically.
    """
    account_ids = (
        Invoice.objects.filter(
            status=InvoiceStatus.OVERDUE,
            account__payment_mode=PaymentMode.CREDIT_LIMIT,
            account__credit_status=CreditStatus.ACTIVE,
        )
        .values_list("account_id", flat=True)
        .distinct()
    )
    blocked = 0
    for account_id in list(account_ids):
        with transaction.atomic():
            account = lock_books(account_id).account
            if account.payment_mode != PaymentMode.CREDIT_LIMIT or (
                account.credit_status != CreditStatus.ACTIVE
            ):
                continue
            overdue = oldest_overdue_invoice(account_id)
            if overdue is None:
                continue
            account_block_credit(
                account_id=account_id, reason=overdue_block_reason(overdue), by_overdue=True
            )
            blocked += 1
    return blocked
