"""Invoice PDFs (docs/design.md §4): WeasyPrint renders `templates/invoicing/pdf/invoice.html`.

Rendered PDFs are cached under `PRIVATE_MEDIA_ROOT/invoices/`. Everything the PDF shows
is gathered once into plain facts; their hash, with the layout's, is the PDF's version,
so any change to the invoice (status, money applied, lines) or to the layout gives a new
file, and an unchanged invoice is served from disk. The Celery task
`invoicing.render_invoice_pdf` warms the cache; a download on a cold cache renders.

WeasyPrint is imported lazily, so the web process and manage.py do not pay for it at
start-up; a worker process warms it (import, fonts, one page) when it starts.
"""

import hashlib
import json
import re
import threading
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from celery.signals import worker_process_init
from django.conf import settings
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from billing_site.money import currency_places, exact, round_to_minor_unit
from billing_site.private_files import write_atomically
from ledger.models import EntryKind

from . import receipts
from .models import Invoice, InvoiceKind, InvoiceStatus, Payment

TEMPLATE = "invoicing/pdf/invoice.html"
STYLESHEET = "invoicing/pdf/invoice.css"
CACHE_FOLDER = "invoices"

# The seller printed on every invoice. A later issue makes these a system setting that
# staff edit; until then they are constants here (and part of every PDF's version).
SELLER = {
    "name": "Northwind Networks Ltd",
    "address": ["12 Harbour Street", "London EC1A 1AA", "United Kingdom"],
    "email": "billing@northwind.example",
    "phone": "+44 20 7946 0000",
    "vat_id": "GB 123 4567 89",
    "company_number": "01234567",
    "bank": "Example Bank plc",
    "iban": "GB33 BUKB 2020 1555 5555 55",
    "bic": "BUKBGB22",
}

# What the customer reads for each state: "approved" is the back office's word.
STATUS_LABELS = {
    InvoiceStatus.OPEN: "Open",
    InvoiceStatus.CLOSED: "Issued",
    InvoiceStatus.APPROVED: "Awaiting payment",
    InvoiceStatus.OVERDUE: "Overdue",
    InvoiceStatus.PAID: "Paid",
    InvoiceStatus.CANCELLED: "Cancelled",
}

KIND_LABELS = {
    InvoiceKind.POSTPAID: "Postpaid services",
    InvoiceKind.CREDIT: "Credit account",
    InvoiceKind.STATEMENT: "Prepaid statement",
    InvoiceKind.MANUAL: "One-off invoice",
}

_MINUS = "\N{MINUS SIGN}"


# -- facts: everything the PDF shows ------------------------------------------------


def _amount(value) -> str:
    """A stored amount as text with its six places, however it was loaded or computed.

    Not `to_ledger_amount`: that parses what a caller asks to book (one entry, below the
    ceiling), while a total may be the ceiling itself once rounded to the minor unit.
    """
    return str(exact(value))


def _external_total(invoice: Invoice) -> dict | None:
    """The total of the ERP's own invoice, when it gave one: what the client pays."""
    payment = Payment.objects.filter(invoice_id=invoice.pk, external_total__isnull=False).first()
    if payment is None:
        return None
    return {"amount": _amount(payment.external_total), "currency": payment.external_currency}


def _facts(invoice: Invoice) -> dict:
    """The invoice as plain JSON-able values: the PDF is rendered from these only."""
    account = invoice.account
    client = account.client
    paid_on = timezone.localdate(invoice.paid_at) if invoice.paid_at else None
    return {
        "seller": SELLER,
        "client": {"name": client.name, "email": client.email, "account": account.pk},
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status,
        "currency": invoice.currency,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "issued_on": invoice.issued_on.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "paid_on": paid_on.isoformat() if paid_on else None,
        "subtotal": _amount(invoice.subtotal),
        "rounding": _amount(invoice.rounding),
        "total": _amount(invoice.total),
        "amount_paid": _amount(invoice.amount_paid),
        "external_total": _external_total(invoice),
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "quantity": line.quantity,
                "amount": _amount(line.amount),
            }
            for line in invoice.lines.all()
        ],
    }


@cache
def _layout_digest() -> str:
    """Hash of the template, its stylesheet and this module: a new layout, new PDFs."""
    digest = hashlib.sha256()
    for name in (TEMPLATE, STYLESHEET):
        digest.update(Path(get_template(name).origin.name).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _version_of(facts: dict) -> str:
    payload = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{_layout_digest()}\n{payload}".encode()).hexdigest()


def invoice_pdf_version(invoice: Invoice) -> str:
    """A hash of everything the invoice's PDF shows (64 hex digits)."""
    return _version_of(_facts(invoice))


# -- display ------------------------------------------------------------------------


def _money_text(amount: Decimal, currency: str, *, plus: bool = False) -> str:
    sign = _MINUS if amount < 0 else ("+" if plus and amount > 0 else "")
    return f"{sign}{abs(amount):,f} {currency}"


def _display_money(amount: Decimal, currency: str) -> str:
    """Rounded to the currency's minor unit, for display only."""
    return _money_text(round_to_minor_unit(amount, currency), currency)


def _exact_money(amount: Decimal, currency: str, *, plus: bool = False) -> str:
    """Every significant ledger digit, padded to at least the currency's minor unit."""
    minor = Decimal(1).scaleb(-currency_places(currency))
    exact = amount.normalize()
    if exact.as_tuple().exponent > minor.as_tuple().exponent:
        exact = exact.quantize(minor)  # only adds zeros: the places it has are kept
    return _money_text(exact, currency, plus=plus)


def _long_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _period(start: date, end: date) -> str:
    if start == end:
        return _long_date(end)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%B %Y}"
    return f"{_long_date(start)} – {_long_date(end)}"


def _due_text(facts: dict, due: date | None) -> str:
    if due:
        return _long_date(due)
    if facts["kind"] == InvoiceKind.STATEMENT:
        return "Nothing due (prepaid)"
    return "No due date"


def _terms(facts: dict, *, issued: date, due: date | None, paid_on: date | None) -> str:
    number, status = facts["number"], facts["status"]
    reference = f"Payment reference: {number}."
    if status == InvoiceStatus.CANCELLED:
        return "This invoice was cancelled and its charges reversed. Nothing is due."
    if facts["kind"] == InvoiceKind.STATEMENT:
        return "Statement of charges already deducted from your prepaid balance. Nothing is due."
    if status == InvoiceStatus.PAID:
        when = f" on {_long_date(paid_on)}" if paid_on else ""
        return f"Paid in full{when}. Thank you for your business."
    if due:
        days = (due - issued).days
        overdue = " This invoice is past its due date." if status == InvoiceStatus.OVERDUE else ""
        return f"Payment due within {days} days, by {_long_date(due)}.{overdue} {reference}"
    if facts["kind"] == InvoiceKind.POSTPAID:
        return f"Services used in the period, billed in arrears; payable as agreed. {reference}"
    return f"The due date will be confirmed separately. {reference}"


def _external_text(external: dict | None, *, owed: bool) -> dict | None:
    """The ERP's total: the amount to pay while the invoice is owed, a record after."""
    if external is None:
        return None
    return {
        "label": "Amount to pay" if owed else "External total",
        "amount": _display_money(Decimal(external["amount"]), external["currency"]),
    }


def _line_label(kind: str) -> str:
    return EntryKind(kind).label if kind in EntryKind.values else kind


def _context(facts: dict) -> dict:
    currency = facts["currency"]
    amount = {key: Decimal(facts[key]) for key in ("subtotal", "rounding", "total", "amount_paid")}
    total = amount["total"]
    owed = facts["status"] not in (InvoiceStatus.CANCELLED, InvoiceStatus.PAID)
    balance_due = max(total - amount["amount_paid"], Decimal(0)) if owed else Decimal(0)
    issued = date.fromisoformat(facts["issued_on"])
    due = date.fromisoformat(facts["due_date"]) if facts["due_date"] else None
    paid_on = date.fromisoformat(facts["paid_on"]) if facts["paid_on"] else None
    statement = facts["kind"] == InvoiceKind.STATEMENT
    # The ledger signs a charge negative; the invoice shows what was charged as positive.
    return {
        "seller": facts["seller"],
        "client": facts["client"],
        "title": "Statement" if statement else "Invoice",
        "number": facts["number"],
        "kind": KIND_LABELS[facts["kind"]],
        "status": facts["status"],
        "status_label": STATUS_LABELS[facts["status"]],
        "currency": currency,
        "period": _period(
            date.fromisoformat(facts["period_start"]), date.fromisoformat(facts["period_end"])
        ),
        "issued_on": _long_date(issued),
        "due": _due_text(facts, due),
        "paid_on": _long_date(paid_on) if paid_on else "",
        "lines": [
            {
                "description": line["description"] or _line_label(line["kind"]),
                "quantity": line["quantity"],
                "amount": _display_money(-Decimal(line["amount"]), currency),
            }
            for line in facts["lines"]
        ],
        "subtotal": _exact_money(-amount["subtotal"], currency),
        "rounding": _exact_money(-amount["rounding"], currency, plus=True),
        "has_rounding": amount["rounding"] != 0,
        "total": _display_money(total, currency),
        "amount_paid": _display_money(amount["amount_paid"], currency),
        "balance_due": _display_money(balance_due, currency),
        "external_total": _external_text(facts["external_total"], owed=owed),
        "terms": _terms(facts, issued=issued, due=due, paid_on=paid_on),
    }


def _html(facts: dict) -> str:
    return render_to_string(TEMPLATE, _context(facts))


def invoice_pdf_html(invoice: Invoice) -> str:
    """The invoice as one self-contained HTML page (styles inline), ready for WeasyPrint."""
    return _html(_facts(invoice))


# -- rendering ----------------------------------------------------------------------

# One font configuration per process: Fontconfig's font map is built once, not per PDF.
# Pango's font map is not documented as thread-safe, so renders in a process take turns.
_render_lock = threading.Lock()


@cache
def _engine():
    import weasyprint  # heavy: only processes that render pay for it
    from weasyprint.text.fonts import FontConfiguration

    return weasyprint.HTML, FontConfiguration()


def render_pdf(html: str) -> bytes:
    """PDF bytes of a self-contained HTML page, with the process's font configuration."""
    html_document, font_config = _engine()
    with _render_lock:
        return html_document(string=html).write_pdf(font_config=font_config)


def warm_up() -> None:
    """Import WeasyPrint, load the fonts and lay out one page, so the first invoice is fast."""
    render_pdf("<p style=\"font-family: 'DejaVu Sans'\">warm-up</p>")


@worker_process_init.connect(weak=False)
def _warm_worker_process(**kwargs) -> None:
    warm_up()


# -- the cache ----------------------------------------------------------------------


def _cache_root() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT)


def _safe(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", number)


def _file_name(number: str, version: str) -> str:
    return f"{CACHE_FOLDER}/{_safe(number)}-{version[:16]}.pdf"


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF: the cached file when it is current, else rendered and cached.

    Records the file on the invoice with an `update()` of the two cache columns only:
    `status` is a protected FSM field, so the instance is never saved from here.
    """
    facts = _facts(invoice)
    version = _version_of(facts)
    root = _cache_root()
    if invoice.pdf_file and invoice.pdf_version == version:
        try:
            return (root / invoice.pdf_file).read_bytes()
        except FileNotFoundError:
            pass  # removed by hand or by a newer render: render it again

    data = render_pdf(_html(facts))
    name = _file_name(invoice.number, version)
    write_atomically(root / name, data)
    Invoice.objects.filter(pk=invoice.pk).update(pdf_file=name, pdf_version=version)
    previous, invoice.pdf_file, invoice.pdf_version = invoice.pdf_file, name, version
    if previous and previous != name:
        (root / previous).unlink(missing_ok=True)
    return data


def invoice_document(invoice: Invoice) -> bytes:
    """What a client downloads: the ERP's receipt when one is attached, else our PDF."""
    name = (
        Payment.objects.filter(invoice_id=invoice.pk).values_list("receipt_file", flat=True).first()
    )
    data = receipts.read(name) if name else None
    return data if data is not None else invoice_pdf(invoice)


def invoice_pdf_filename(invoice: Invoice) -> str:
    """The name a download should carry (`Content-Disposition`)."""
    return f"{_safe(invoice.number)}.pdf"
