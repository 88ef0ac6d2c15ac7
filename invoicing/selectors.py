"""Reads of invoices for admin, portal, API and `verify_ledger`."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Q, Sum, Window
from django.db.models.functions import Lag

from billing_site.money import ZERO, exact, round_to_minor_unit
from ledger.models import BILLABLE_KINDS, Balance, Entry

from .models import UNPAID_STATUSES, Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentStatus

_BILLABLE = sorted(BILLABLE_KINDS)


def oldest_overdue_invoice(account_id: int) -> Invoice | None:
    """The overdue invoice the client should pay first (the one the overdue block names)."""
    return (
        Invoice.objects.filter(account_id=account_id, status=InvoiceStatus.OVERDUE)
        .order_by("due_date", "issued_on", "id")
        .first()
    )


def invoice_entries(invoice: Invoice):
    """The ledger entries an invoice billed: those booked for it by name, and the
    account's billable entries whose billing instant falls in its window."""
    return Entry.objects.filter(invoice_entries_q(invoice)).order_by("bill_at", "id")


def invoice_entries_q(invoice: Invoice) -> Q:
    """`invoice_entries` as a filter on entries (served by the (account, bill_at) index)."""
    billed = Q(invoice_id=invoice.pk)
    if invoice.bills_until is not None:
        window = Q(
            account_id=invoice.account_id,
            invoice__isnull=True,
            kind__in=_BILLABLE,
            bill_at__lt=invoice.bills_until,
        )
        if invoice.bills_from is not None:
            window &= Q(bill_at__gte=invoice.bills_from)
        billed |= window
    return billed


def entry_invoice(entry: Entry) -> Invoice | None:
    """The invoice that billed an entry, or None while it waits for one."""
    if entry.invoice_id is not None:
        return Invoice.objects.get(pk=entry.invoice_id)
    if entry.kind not in BILLABLE_KINDS:
        return None
    return (
        Invoice.objects.filter(account_id=entry.account_id, bills_until__gt=entry.bill_at)
        .filter(Q(bills_from__isnull=True) | Q(bills_from__lte=entry.bill_at))
        .first()
    )


def _sums_by_invoice(model, amount_path: str, first: int, last: int) -> dict:
    """Σ per invoice for invoices first..last, one grouped query (set-based, so the
    planner never runs a per-invoice subquery over the whole ledger)."""
    return dict(
        model.objects.filter(invoice_id__gte=first, invoice_id__lte=last)
        .values("invoice_id")
        .annotate(s=Sum(amount_path))
        .values_list("invoice_id", "s")
    )


def _window_sums(first: int, last: int) -> dict:
    """Σ of the entries in each window of invoices first..last, one grouped query."""
    kinds = ", ".join(["%s"] * len(_BILLABLE))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.id, SUM(e.amount) FROM invoicing_invoice i "  # noqa: S608 - placeholders
            "JOIN ledger_entry e ON e.account_id = i.account_id "
            f"AND e.invoice_id IS NULL AND e.kind IN ({kinds}) "
            "AND e.bill_at < i.bills_until "
            "AND (i.bills_from IS NULL OR e.bill_at >= i.bills_from) "
            "WHERE i.id BETWEEN %s AND %s AND i.bills_until IS NOT NULL GROUP BY i.id",
            [*_BILLABLE, first, last],
        )
        return dict(cursor.fetchall())


@dataclass(frozen=True)
class InvoiceMismatch:
    number: str
    what: str

    def __str__(self):
        return f"invoice {self.number}: {self.what}"


def invoice_mismatches(chunk_size: int = 5000):
    """Yield every invoice whose lines, entries or total disagree with each other.

    lines add up to the subtotal; the billed entries add up to subtotal + rounding
    (plus the reversal, for a cancelled invoice); the total is −(subtotal + rounding),
    rounded to the currency's minor unit; money applied never exceeds the total; an
    account's billing windows follow each other without gap or overlap.
    """
    last = 0
    while True:
        batch = list(
            Invoice.objects.filter(pk__gt=last)
            .order_by("pk")
            .values(
                "pk",
                "number",
                "currency",
                "status",
                "subtotal",
                "rounding",
                "total",
                "amount_paid",
            )[:chunk_size]
        )
        if not batch:
            break
        first, last = batch[0]["pk"], batch[-1]["pk"]
        lines = _sums_by_invoice(InvoiceLine, "amount", first, last)
        named = _sums_by_invoice(Entry, "amount", first, last)
        windows = _window_sums(first, last)
        for inv in batch:
            inv["lines_sum"] = lines.get(inv["pk"], ZERO)
            inv["entries_sum"] = exact(named.get(inv["pk"], ZERO)) + exact(
                windows.get(inv["pk"], ZERO)
            )
            yield from _check(inv)
    yield from _window_gaps()
    yield from invoice_series_mismatches()
    yield from invoice_status_mismatches()


def _check(inv):
    number = inv["number"]
    billed = inv["subtotal"] + inv["rounding"]
    if exact(inv["lines_sum"]) != inv["subtotal"]:
        yield InvoiceMismatch(
            number, f"lines add up to {inv['lines_sum']}, subtotal is {inv['subtotal']}"
        )
    expected_entries = billed + (inv["total"] if inv["status"] == InvoiceStatus.CANCELLED else 0)
    if exact(inv["entries_sum"]) != expected_entries:
        yield InvoiceMismatch(
            number, f"billed entries add up to {inv['entries_sum']}, expected {expected_entries}"
        )
    if (
        inv["total"] != -billed
        or round_to_minor_unit(inv["total"], inv["currency"]) != inv["total"]
    ):
        yield InvoiceMismatch(number, f"total {inv['total']} is not −(subtotal + rounding) rounded")
    if inv["amount_paid"] > max(inv["total"], ZERO):
        yield InvoiceMismatch(number, f"paid {inv['amount_paid']} exceeds the total {inv['total']}")


def _window_gaps():
    """Each window starts where the account's previous one ended, and the account's
    cut-off is where its last one ended."""
    windows = (
        Invoice.objects.filter(bills_until__isnull=False)
        .annotate(
            previous=Window(
                Lag("bills_until"), partition_by=[F("account_id")], order_by=F("bills_until").asc()
            )
        )
        .order_by("account_id", "bills_until")
        .values_list("account_id", "number", "bills_from", "bills_until", "previous")
    )
    last_until = {}
    for account_id, number, bills_from, bills_until, previous in windows.iterator(chunk_size=5000):
        if bills_from != previous:
            yield InvoiceMismatch(
                number,
                f"its window starts at {bills_from}, the account's previous one ended at "
                f"{previous}",
            )
        last_until[account_id] = (number, bills_until)
    cutoffs = Balance.objects.values_list("account_id", "billed_until")
    for account_id, billed_until in cutoffs.iterator(chunk_size=5000):
        number, until = last_until.get(account_id, ("(none)", None))
        if billed_until != until:
            yield InvoiceMismatch(
                number,
                f"account {account_id} is cut off at {billed_until}, its last window "
                f"ends at {until}",
            )


# Each invoice's number read back as `invoice_numbers_take` writes it: INV-<year>-<n>,
# n in six digits or more; `canonical` is false for anything else.
_NUMBERED = (
    "WITH parsed AS (SELECT id, number, issued_on, "
    "substring(number FROM '^INV-([0-9]{4})-[0-9]+$')::int AS year, "
    "substring(number FROM '^INV-[0-9]{4}-([0-9]+)$')::bigint AS n "
    "FROM invoicing_invoice), "
    "numbered AS (SELECT *, number IS NOT DISTINCT FROM "
    "'INV-' || year || '-' || lpad(n::text, greatest(6, length(n::text)), '0') "
    "AS canonical FROM parsed) "
)


def _numbered(select: str) -> str:
    return _NUMBERED + select


# Missing numbers are listed one by one up to this many per year, then counted.
_MISSING_LISTED = 20


@dataclass(frozen=True)
class SeriesMismatch:
    year: int
    what: str

    def __str__(self):
        return f"invoice series {self.year}: {self.what}"


def invoice_series_mismatches():
    """Yield every break in the invoice numbers: each year's numbers are 1..n, each once
    (gapless, no duplicates), its series row is at n + 1, and a number's year is its
    invoice's issue year."""
    with connection.cursor() as cursor:
        cursor.execute(
            _numbered(
                "SELECT number, issued_on FROM numbered WHERE NOT canonical "
                "OR year <> EXTRACT(YEAR FROM issued_on) ORDER BY id"
            )
        )
        for number, issued_on in cursor.fetchall():
            yield InvoiceMismatch(
                number, f"the number is not from the series of its issue date {issued_on}"
            )
        cursor.execute(
            _numbered(
                "SELECT year, n, array_agg(number ORDER BY id) FROM numbered WHERE year IS "
                "NOT NULL GROUP BY year, n HAVING count(*) > 1 ORDER BY year, n"
            )
        )
        for year, n, numbers in cursor.fetchall():
            yield SeriesMismatch(year, f"number {n} is used more than once ({', '.join(numbers)})")
        cursor.execute(
            _numbered(
                "SELECT COALESCE(s.year, x.year), s.next_number, x.used, x.highest FROM "
                "(SELECT year, count(DISTINCT n) AS used, max(n) AS highest FROM numbered "
                "WHERE year IS NOT NULL GROUP BY year) x "
                "FULL JOIN invoicing_invoiceseries s ON s.year = x.year ORDER BY 1"
            )
        )
        for year, next_number, used, highest in cursor.fetchall():
            used, highest = used or 0, highest or 0
            if next_number is None:
                yield SeriesMismatch(year, "numbers were issued without a series row")
            elif next_number != highest + 1:
                yield SeriesMismatch(
                    year, f"the series is at {next_number}, the highest number is {highest}"
                )
            if used == highest:
                continue
            if highest - used > _MISSING_LISTED:
                yield SeriesMismatch(year, f"{highest - used} numbers below {highest} are missing")
                continue
            cursor.execute(
                _numbered(
                    "SELECT g FROM generate_series(1, %s) g "
                    "EXCEPT SELECT n FROM numbered WHERE year = %s ORDER BY 1"
                ),
                [highest, year],
            )
            missing = ", ".join(str(n) for (n,) in cursor.fetchall())
            yield SeriesMismatch(year, f"number(s) {missing} missing: the series has a gap")


def invoice_status_mismatches():
    """Yield every invoice whose status disagrees with its log or its payment.

    The status is the last move its log recorded; paid means its total applied and a
    payment (if it has one) no longer waiting; approved, overdue and closed are unpaid,
    with a payment; open has none yet; cancelled has no money applied and no payment
    waiting or completed; a completed payment's invoice is paid; each payment's status
    is the last move its own log recorded (none yet: waiting).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.number, i.status, c.to_status FROM invoicing_invoice i "
            "LEFT JOIN (SELECT DISTINCT ON (invoice_id) invoice_id, to_status "
            "FROM invoicing_invoicestatuschange ORDER BY invoice_id, id DESC) c "
            "ON c.invoice_id = i.id "
            "WHERE c.to_status IS DISTINCT FROM i.status ORDER BY i.id"
        )
        for number, status, logged in cursor.fetchall():
            said = f"its log's last move is to {logged}" if logged else "its log is empty"
            yield InvoiceMismatch(number, f"status {status}, but {said}")
        cursor.execute(
            "SELECT i.number, i.status, i.total, i.amount_paid, i.paid_at IS NOT NULL, "
            "i.due_date, p.status, p.due_date, pc.to_status, p.id IS NOT NULL "
            "FROM invoicing_invoice i LEFT JOIN invoicing_payment p ON p.invoice_id = i.id "
            "LEFT JOIN (SELECT DISTINCT ON (payment_id) payment_id, to_status "
            "FROM invoicing_paymentstatuschange ORDER BY payment_id, id DESC) pc "
            "ON pc.payment_id = p.id ORDER BY i.id"
        )
        for row in cursor.fetchall():
            yield from _status_check(*row)


def _status_check(number, status, total, paid, paid_at, due, payment, payment_due, logged, has):
    def wrong(what):
        return InvoiceMismatch(number, what)

    settled = paid >= total
    if status == InvoiceStatus.PAID:
        if not settled:
            yield wrong(f"paid with {paid} of its total {total} applied")
        if not paid_at:
            yield wrong("paid without a payment time")
    elif status == InvoiceStatus.CANCELLED:
        if paid:
            yield wrong(f"cancelled with {paid} applied")
        if payment in (PaymentStatus.WAITING, PaymentStatus.COMPLETED):
            yield wrong(f"cancelled, but its payment is {payment}")
    elif status in (InvoiceStatus.CLOSED, *UNPAID_STATUSES):
        if settled and total > 0:
            yield wrong(f"{status} with its whole total {total} applied")
        if not has:
            yield wrong(f"{status} without a payment")
    elif status == InvoiceStatus.OPEN and has:
        yield wrong("open, yet it has a payment")
    if not has:
        return
    if payment == PaymentStatus.COMPLETED and status != InvoiceStatus.PAID:
        yield wrong(f"its payment is completed, the invoice is {status}")
    if payment == PaymentStatus.WAITING and status == InvoiceStatus.PAID:
        yield wrong("paid, but its payment is still waiting")
    if status in UNPAID_STATUSES and payment_due != due:
        yield wrong(f"due {due}, its payment is due {payment_due}")
    if (logged or PaymentStatus.WAITING) != payment:
        said = f"its log's last move is to {logged}" if logged else "its log is empty"
        yield wrong(f"its payment is {payment}, but {said}")


def unpaid_invoices(account_id: int):
    return Invoice.objects.filter(
        account_id=account_id, status__in=[InvoiceStatus.APPROVED, InvoiceStatus.OVERDUE]
    ).order_by("issued_on", "id")


def invoices_visible(client_id: int | None):
    """All invoices for staff (client_id None); a client's own, except ones still open."""
    invoices = Invoice.objects.select_related("account__client", "payment")
    if client_id is None:
        return invoices
    return invoices.filter(account__client_id=client_id).exclude(status=InvoiceStatus.OPEN)


def payments_visible(client_id: int | None):
    """All payments for staff (client_id None); a client's own."""
    payments = Payment.objects.select_related("invoice__account__client")
    if client_id is None:
        return payments
    return payments.filter(invoice__account__client_id=client_id)
