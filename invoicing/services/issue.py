"""Issuing invoices: the monthly run on the billing day, and an invoice issued by hand.

Set-based: per chunk of accounts, one aggregate sums the unbilled entries into lines,
and invoices, lines, rounding entries, payments, logs and events are inserted in bulk,
never one query per entry. An invoice bills a window of billing instants (see
`invoicing.models`), so nothing is written per billed entry. Idempotent and resumable: each chunk
commits on its own, an account that already has its monthly invoice is skipped, and a
unique constraint (account, period, kind) backs that up.

In external ERP mode (the system setting "external system generates invoices") the run
closes the period's charges on postpaid and credit invoices it leaves `open`, with no
payment and no approval: the next day `invoicing_close_erp` closes them for the ERP.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import PaymentMode
from approvals.services import system_settings
from billing_site.bulk import insert_rows
from billing_site.exceptions import InvalidInput, require_perm
from billing_site.money import ZERO, exact, round_to_minor_unit
from ledger.models import BILLABLE_KINDS, Balance, Entry, EntryKind, bill_at_for
from ledger.selectors import unbilled_q
from ledger.services import lock_books
from notifications.models import EventType
from notifications.services import invoice_events_bulk

from ..models import (
    MONTHLY_KINDS,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    InvoiceStatusChange,
    Payment,
)
from .lifecycle import allocate_money_many, warm_pdfs
from .numbering import invoice_numbers_take

DEFAULT_CHUNK_SIZE = 5000
# What the platform would approve itself on the billing day, and the ERP approves in
# external ERP mode. Statements are issued paid; invoices issued by hand stay the staff's.
ERP_KINDS = (InvoiceKind.POSTPAID, InvoiceKind.CREDIT)


@dataclass(frozen=True)
class BillingPeriod:
    start: date
    end: date  # inclusive
    boundary: datetime  # entries created before this instant belong to the period

    # ...and so do entries whose service period ended before the boundary's day, even if
    # booked after it: a postpay fee charged in arrears on the 1st, a late usage record.

    @classmethod
    def month_before(cls, run_date: date) -> "BillingPeriod":
        """The calendar month before `run_date`; a month still running is never billed."""
        if run_date > timezone.localdate():
            raise InvalidInput(
                f"{run_date} has not come yet: a billing run bills only months that have ended.",
                field="run_date",
            )
        first_of_this_month = run_date.replace(day=1)
        end = first_of_this_month - timedelta(days=1)
        boundary = timezone.make_aware(datetime.combine(first_of_this_month, time.min))
        return cls(start=end.replace(day=1), end=end, boundary=boundary)


@dataclass
class RunResult:
    invoices: int = 0
    skipped_negative_prepaid: int = 0

    def add(self, other: "RunResult") -> None:
        self.invoices += other.invoices
        self.skipped_negative_prepaid += other.skipped_negative_prepaid


def _monthly_kind(row: Balance) -> str | None:
    mode = row.account.payment_mode
    if mode == PaymentMode.POSTPAID:
        return InvoiceKind.POSTPAID
    if mode == PaymentMode.CREDIT_LIMIT:
        return InvoiceKind.CREDIT
    # A prepaid account gets a statement of what was already deducted; with a negative
    # balance (postpaid just switched off) automatic invoicing waits until the balance
    # is back at zero, and staff may issue one by hand meanwhile.
    return InvoiceKind.STATEMENT if row.balance >= 0 else None


@dataclass
class _Billed:
    """What one account's window holds: its lines (oldest first) and their sum."""

    lines: list[tuple]  # (kind, description, quantity, amount)
    subtotal: Decimal
    first_booked: datetime


def _ids_param(ids) -> tuple[str, list]:
    """`account_id` among `ids`: one array parameter (a query with thousands of
    placeholders costs more to send and parse than to run)."""
    return "= ANY(%s)", [list(ids)]


def _billed_by_account(account_ids, boundary: datetime, *, dated: bool) -> dict[int, _Billed]:
    """One aggregate for the chunk: each account's unbilled entries by kind and
    description, which are the invoice lines, and whose sum is the subtotal. `dated`:
    also when the first of them was booked (an invoice issued by hand starts there).

    The WHERE clause is `ledger.selectors.unbilled_q()` in SQL, joined straight to the
    balance row for the cut-off; `verify_ledger` (and every test that runs it) holds the
    two to the same entries.
    """
    among, ids = _ids_param(account_ids)
    kinds = sorted(BILLABLE_KINDS)
    booked = ", MIN(e.created_at)" if dated else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.account_id, e.kind, e.description, COUNT(*), SUM(e.amount), "  # noqa: S608
            f"MIN(e.id){booked} "
            "FROM ledger_entry e JOIN ledger_balance b ON b.account_id = e.account_id "
            f"WHERE e.account_id {among} AND e.invoice_id IS NULL "
            f"AND e.kind IN ({', '.join(['%s'] * len(kinds))}) AND e.bill_at < %s "
            "AND (b.billed_until IS NULL OR e.bill_at >= b.billed_until) "
            "GROUP BY e.account_id, e.kind, e.description ORDER BY e.account_id, MIN(e.id)",
            [*ids, *kinds, connection.ops.adapt_datetimefield_value(boundary)],
        )
        groups = cursor.fetchall()
    billed: dict[int, _Billed] = {}
    for account_id, kind, description, quantity, amount, _first, *first_booked in groups:
        amount = exact(amount)
        when = first_booked[0] if first_booked else None  # aware: the connection is in UTC
        found = billed.get(account_id)
        if found is None:
            found = billed[account_id] = _Billed([], ZERO, when)
        found.lines.append((kind, description, quantity, amount))
        found.subtotal += amount
        if when is not None:
            found.first_booked = min(found.first_booked, when)
    return billed


def _move_balances(invoices: list["_NewInvoice"], now) -> None:
    """One set-based UPDATE of the chunk's balance rows (already locked): billed charges
    leave `unbilled`, the rounding entry moves `balance`, and the cut-off moves to the end
    of the invoice's window. The in-memory rows were moved the same way by the caller."""
    among, ids = _ids_param([i.pk for i in invoices])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_balance SET "  # noqa: S608 - placeholders only
            "unbilled = ledger_balance.unbilled - i.subtotal, "
            "balance = ledger_balance.balance + i.rounding, "
            "entry_count = ledger_balance.entry_count "
            "+ CASE WHEN i.rounding <> 0 THEN 1 ELSE 0 END, "
            "billed_until = i.bills_until, "
            "updated_at = %s "
            f"FROM invoicing_invoice i WHERE i.id {among} "
            "AND ledger_balance.account_id = i.account_id",
            [connection.ops.adapt_datetimefield_value(now), *ids],
        )


def _status_of(kind: str, total: Decimal, *, external: bool) -> str:
    payable = total > 0
    if external and payable and kind in ERP_KINDS:
        return InvoiceStatus.OPEN
    if payable and kind != InvoiceKind.STATEMENT:
        return InvoiceStatus.APPROVED
    return InvoiceStatus.PAID


@dataclass(slots=True)
class _NewInvoice:
    """An invoice the run is issuing, with `Invoice`'s attribute names: what the run
    needs of it (lines, logs, payments, the event's summary) without a model instance
    per invoice. Read back with `Invoice.objects` once written."""

    account_id: int
    kind: str
    status: str
    currency: str
    period_start: date
    period_end: date
    issued_on: date
    due_date: date | None
    bills_from: datetime | None
    bills_until: datetime
    subtotal: Decimal
    rounding: Decimal
    total: Decimal
    amount_paid: Decimal
    approved_at: datetime | None
    paid_at: datetime | None
    erp_managed: bool
    number: str = ""
    pk: int | None = None

    @property
    def outstanding(self) -> Decimal:
        return max(self.total - self.amount_paid, ZERO)

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in _NEW_INVOICE_FIELDS)


_NEW_INVOICE_FIELDS = [
    "account_id",
    "kind",
    "status",
    "currency",
    "period_start",
    "period_end",
    "issued_on",
    "due_date",
    "bills_from",
    "bills_until",
    "subtotal",
    "rounding",
    "total",
    "amount_paid",
    "approved_at",
    "paid_at",
    "erp_managed",
    "number",
]


def _issue_invoices(
    rows: list[Balance],
    *,
    kinds: dict[int, str],
    period_start: date | None,
    period_end: date,
    boundary: datetime,
    issued_on: date,
    issued_by=None,
    external: bool = False,
) -> list[_NewInvoice]:
    """Invoice the unbilled entries before `boundary` of the locked `rows`.

    Each invoice bills the window from the account's cut-off to `boundary`, and the
    cut-off moves to `boundary`. `external`: ERP mode, payable postpaid and credit
    invoices are left `open`.
    """
    by_account = {row.account_id: row for row in rows}
    billed = _billed_by_account(list(kinds), boundary, dated=period_start is None)
    now = timezone.now()
    invoices = []
    for account_id, kind in kinds.items():
        found = billed.get(account_id)
        if found is None:
            continue
        row = by_account[account_id]
        account = row.account
        total = -round_to_minor_unit(found.subtotal, account.currency)
        status = _status_of(kind, total, external=external)
        due = (
            issued_on + timedelta(days=account.payment_term_days)
            if status == InvoiceStatus.APPROVED and kind in (InvoiceKind.CREDIT, InvoiceKind.MANUAL)
            else None
        )
        invoices.append(
            _NewInvoice(
                account_id=account_id,
                kind=kind,
                status=status,
                currency=account.currency,
                period_start=period_start or timezone.localdate(found.first_booked),
                period_end=period_end,
                issued_on=issued_on,
                due_date=due,
                bills_from=row.billed_until,
                bills_until=boundary,
                subtotal=found.subtotal,
                rounding=-total - found.subtotal,
                total=total,
                amount_paid=total if status == InvoiceStatus.PAID and total > 0 else ZERO,
                approved_at=now if status == InvoiceStatus.APPROVED else None,
                paid_at=now if status == InvoiceStatus.PAID else None,
                erp_managed=status == InvoiceStatus.OPEN,
            )
        )
    if not invoices:
        return []
    for invoice, number in zip(
        invoices, invoice_numbers_take(year=issued_on.year, count=len(invoices)), strict=True
    ):
        invoice.number = number
    ids = insert_rows(
        Invoice, _NEW_INVOICE_FIELDS, [i.values() for i in invoices], returning_ids=True
    )
    for invoice, invoice_id in zip(invoices, ids, strict=True):
        invoice.pk = invoice_id
    insert_rows(
        InvoiceLine,
        ["invoice_id", "kind", "description", "quantity", "amount"],
        [(invoice.pk, *line) for invoice in invoices for line in billed[invoice.account_id].lines],
    )
    # The rounding entry is booked for its invoice by name: it is billed there, not in
    # the next window.
    by = getattr(issued_by, "pk", None)
    rounding_at = bill_at_for(created_at=now, period_end=None, billed_until=boundary)
    insert_rows(
        Entry,
        [
            "account_id",
            "amount",
            "kind",
            "description",
            "idempotency_key",
            "invoice_id",
            "created_at",
            "bill_at",
            "created_by_id",
        ],
        [
            (
                i.account_id,
                i.rounding,
                EntryKind.ROUNDING,
                f"Rounding of invoice {i.number} to the currency's minor unit",
                f"invoice:{i.number}:rounding",
                i.pk,
                now,
                rounding_at,
                by,
            )
            for i in invoices
            if i.rounding
        ],
    )
    for invoice in invoices:
        row = by_account[invoice.account_id]
        row.unbilled -= invoice.subtotal
        row.balance += invoice.rounding
        row.entry_count += 1 if invoice.rounding else 0
        row.billed_until = boundary
        row.updated_at = now
    _move_balances(invoices, now)

    period = f"{invoices[0].period_start:%B %Y}" if period_start else "charges to date"
    logs, payments = [], []
    erp_reason = f"Charges for {period} closed on it; the external ERP invoices them."
    issued_reason = f"Issued for {period}."
    for invoice in invoices:
        if invoice.status == InvoiceStatus.OPEN:
            logs.append((invoice.pk, "", InvoiceStatus.OPEN, by, erp_reason))
            continue
        logs.append((invoice.pk, "", InvoiceStatus.CLOSED, by, issued_reason))
        if invoice.kind == InvoiceKind.STATEMENT:
            reason = "Statement of charges already deducted."
        else:
            reason = "Nothing to pay." if invoice.status == InvoiceStatus.PAID else "Approved."
        logs.append((invoice.pk, InvoiceStatus.CLOSED, invoice.status, by, reason))
        if invoice.status == InvoiceStatus.APPROVED:
            payments.append((invoice.pk, invoice.due_date))
    insert_rows(
        InvoiceStatusChange,
        ["invoice_id", "from_status", "to_status", "changed_by_id", "reason"],
        logs,
    )
    insert_rows(Payment, ["invoice_id", "due_date"], payments)
    invoice_events_bulk(
        EventType.INVOICE_APPROVED, [i for i in invoices if i.status == InvoiceStatus.APPROVED]
    )

    # Money paid in ahead (an overpayment) pays the new invoices at once: the amount due
    # before this invoice was positive.
    paid_ahead = []
    for invoice in invoices:
        row = by_account[invoice.account_id]
        if (
            invoice.status == InvoiceStatus.APPROVED
            and row.balance - row.unbilled + invoice.total > 0
        ):
            paid_ahead.append(row)
    if paid_ahead:
        allocate_money_many(paid_ahead, by=issued_by)
    warm_pdfs([i.pk for i in invoices])
    return invoices


def invoicing_accounts_due(*, run_date: date) -> list[int]:
    """Accounts with unbilled entries in or before last month and no monthly invoice yet."""
    period = BillingPeriod.month_before(run_date)
    invoiced = Invoice.objects.filter(period_start=period.start, kind__in=MONTHLY_KINDS).values(
        "account_id"
    )
    # From the balance rows, each probing its own entries from its cut-off on (the
    # (account, bill_at) index), so the cost follows the number of accounts, not the
    # length of the ledger's history.
    waiting = Entry.objects.filter(
        unbilled_q(cutoff=OuterRef("billed_until")),
        account_id=OuterRef("account_id"),
        bill_at__lt=period.boundary,
    )
    return list(
        Balance.objects.filter(Exists(waiting))
        .exclude(account_id__in=invoiced)
        .order_by("account_id")
        .values_list("account_id", flat=True)
    )


@dataclass(slots=True)
class _ChunkAccount:
    """What the run reads of an account (instead of a model instance per account)."""

    pk: int
    currency: str
    payment_mode: str
    payment_term_days: int
    credit_blocked_by_overdue: bool


@dataclass(slots=True)
class _ChunkBooks:
    """A locked balance row as the run reads it; it stands for `Balance` in the issue and
    allocation code (the same attribute names), without a model instance per account."""

    account_id: int
    balance: Decimal
    unbilled: Decimal
    entry_count: int
    billed_until: datetime | None
    account: _ChunkAccount
    updated_at: datetime | None = None


def _lock_chunk(account_ids: list[int]) -> list[_ChunkBooks]:
    """Lock the chunk's balance and account rows (as `lock_books` does, in one statement)."""
    rows = (
        Balance.objects.select_for_update(no_key=True)
        .filter(account_id__in=account_ids)
        .order_by("account_id")
        .values_list(
            "account_id",
            "balance",
            "unbilled",
            "entry_count",
            "billed_until",
            "account__currency",
            "account__payment_mode",
            "account__payment_term_days",
            "account__credit_blocked_by_overdue",
        )
    )
    return [
        _ChunkBooks(pk, balance, unbilled, count, until, _ChunkAccount(pk, *account))
        for pk, balance, unbilled, count, until, *account in rows
    ]


def invoicing_bill_accounts(*, account_ids: list[int], run_date: date) -> RunResult:
    """Issue last month's invoices for these accounts, in one transaction."""
    period = BillingPeriod.month_before(run_date)
    result = RunResult()
    external = system_settings().external_invoicing
    with transaction.atomic():
        rows = _lock_chunk(account_ids)
        done = set(
            Invoice.objects.filter(
                account_id__in=account_ids, period_start=period.start, kind__in=MONTHLY_KINDS
            ).values_list("account_id", flat=True)
        )
        kinds = {}
        for row in rows:
            if row.account_id in done:
                continue
            kind = _monthly_kind(row)
            if kind is None:
                result.skipped_negative_prepaid += 1
            else:
                kinds[row.account_id] = kind
        result.invoices = len(
            _issue_invoices(
                rows,
                kinds=kinds,
                period_start=period.start,
                period_end=period.end,
                boundary=period.boundary,
                issued_on=run_date,
                external=external,
            )
        )
    return result


def chunks(ids: list[int], size: int = DEFAULT_CHUNK_SIZE):
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def invoicing_run_month(
    *,
    run_date: date,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_chunk: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Invoice last month for every account that still needs it, chunk by chunk."""
    result = RunResult()
    parts = chunks(invoicing_accounts_due(run_date=run_date), chunk_size)
    for n, part in enumerate(parts, start=1):
        result.add(invoicing_bill_accounts(account_ids=part, run_date=run_date))
        if on_chunk:
            on_chunk(n, len(parts))
    return result


def invoice_issue_now(*, account_id: int, issued_by=None) -> Invoice:
    """Invoice every unbilled charge of one account now, due in its payment term.

    For the cases the monthly run leaves to staff, like a prepaid account with a
    negative balance after postpaid was switched off.
    """
    require_perm(issued_by, "invoicing.issue_invoice", "issue invoices")
    now = timezone.now()
    with transaction.atomic():
        row = lock_books(account_id)
        issued = _issue_invoices(
            [row],
            kinds={account_id: InvoiceKind.MANUAL},
            period_start=None,
            period_end=timezone.localdate(now),
            boundary=now + timedelta(microseconds=1),
            issued_on=timezone.localdate(now),
            issued_by=issued_by,
        )
    if not issued:
        raise InvalidInput("The account has no unbilled charges to invoice.", field="account")
    return Invoice.objects.select_related("account").get(pk=issued[0].pk)
