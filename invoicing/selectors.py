"""Reads of invoices for admin, portal, API and `verify_ledger`."""

from dataclasses import dataclass

from django.db.models import Sum

from billing_site.money import ZERO, exact, round_to_minor_unit

from .models import Invoice, InvoicedEntry, InvoiceLine, InvoiceStatus, Payment


def _sums_by_invoice(model, amount_path: str, first: int, last: int) -> dict:
    """Σ per invoice for invoices first..last, one grouped query (set-based, so the
    planner never runs a per-invoice subquery over the whole ledger)."""
    return dict(
        model.objects.filter(invoice_id__gte=first, invoice_id__lte=last)
        .values("invoice_id")
        .annotate(s=Sum(amount_path))
        .values_list("invoice_id", "s")
    )


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
    rounded to the currency's minor unit; money applied never exceeds the total.
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
            return
        first, last = batch[0]["pk"], batch[-1]["pk"]
        lines = _sums_by_invoice(InvoiceLine, "amount", first, last)
        entries = _sums_by_invoice(InvoicedEntry, "entry__amount", first, last)
        for inv in batch:
            inv["lines_sum"] = lines.get(inv["pk"], ZERO)
            inv["entries_sum"] = entries.get(inv["pk"], ZERO)
            yield from _check(inv)


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
