"""Invoice PDFs: what they show, the cache on disk, and re-rendering when the invoice changes."""

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from pypdf import PdfReader

from invoicing.models import Invoice, InvoiceStatus
from invoicing.pdf import invoice_pdf, invoice_pdf_html, invoice_pdf_version
from invoicing.services import invoicing_run_month
from invoicing.tasks import render_invoice_pdf
from ledger.models import EntryKind
from ledger.services import ledger_charge, ledger_receive_payment
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

# Two usage charges in October: 12.344567 exactly, 12.34 owed, a rounding of −0.004567.
USAGE = [("SMS to United Kingdom", "4.123456"), ("Voice minutes, outbound", "8.221111")]


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    return tmp_path


def _october_invoice(*, payment_mode="credit_limit", name="Fabrikam Hosting", **account):
    if payment_mode == "credit_limit":
        account.setdefault("credit_limit", "100")
    account = AccountFactory(payment_mode=payment_mode, name=name, **account)
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        for n, (description, amount) in enumerate(USAGE):
            ledger_charge(
                account_id=account.pk,
                amount=amount,
                kind=EntryKind.USAGE,
                description=description,
                idempotency_key=f"usage-{n}",
            )
    invoicing_run_month(run_date=date(2026, 11, 1))
    return Invoice.objects.select_related("account__client").get(account=account)


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _cached_file(invoice: Invoice, root: Path) -> Path:
    stored = Invoice.objects.values_list("pdf_file", flat=True).get(pk=invoice.pk)
    return root / stored


def test_pdf_shows_number_client_lines_totals_rounding_and_due_date():
    invoice = _october_invoice()
    assert (invoice.total, invoice.rounding) == (Decimal("12.34"), Decimal("0.004567"))

    pdf = invoice_pdf(invoice)

    assert pdf.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = _text(pdf)
    for shown in (
        invoice.number,
        "Fabrikam Hosting",
        invoice.account.client.email,
        "Northwind Networks Ltd",  # the seller
        "1–31 October 2026",
        "1 November 2026",  # issued
        "15 November 2026",  # due: issued + 14 days
        "Awaiting payment",
        "SMS to United Kingdom",
        "4.12 USD",  # line amounts rounded for display
        "8.22 USD",
        "12.344567 USD",  # the exact subtotal
        "Rounding",
        "\N{MINUS SIGN}0.004567 USD",
        "12.34 USD",  # total and balance due
        "Payment reference: " + invoice.number,
    ):
        assert shown in text, shown


def test_postpaid_invoice_says_it_has_no_due_date():
    invoice = _october_invoice(payment_mode="postpaid")
    assert invoice.due_date is None

    text = _text(invoice_pdf(invoice))

    assert "No due date" in text
    assert "billed in arrears" in text


def test_client_details_are_escaped_as_text_not_markup():
    invoice = _october_invoice(name="Smith & <b>Sons</b>")

    assert "Smith &amp; &lt;b&gt;Sons&lt;/b&gt;" in invoice_pdf_html(invoice)
    assert "Smith & <b>Sons</b>" in _text(invoice_pdf(invoice))


def test_second_download_is_served_from_the_cached_file(private_media):
    invoice = _october_invoice()
    first = invoice_pdf(invoice)
    path = _cached_file(invoice, private_media)
    before = path.stat()

    again = Invoice.objects.select_related("account__client").get(pk=invoice.pk)
    second = invoice_pdf(again)

    assert second == first
    assert path.parent == private_media / "invoices"
    assert path.name.startswith(invoice.number)
    assert _cached_file(invoice, private_media) == path
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.pdf_version == invoice_pdf_version(again)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_a_payment_gives_a_new_version_and_the_new_pdf_says_paid(private_media):
    invoice = _october_invoice()
    invoice_pdf(invoice)
    old_path = _cached_file(invoice, private_media)
    old_version = invoice.pdf_version

    ledger_receive_payment(account_id=invoice.account_id, amount="12.34", idempotency_key="pay-1")
    paid = Invoice.objects.select_related("account__client").get(pk=invoice.pk)
    assert paid.status == InvoiceStatus.PAID
    assert invoice_pdf_version(paid) != old_version

    text = _text(invoice_pdf(paid))

    assert "Paid in full on" in text
    assert "Awaiting payment" not in text
    assert "Balance due" in text
    assert "0.00 USD" in text
    new_path = _cached_file(invoice, private_media)
    assert new_path != old_path
    assert new_path.exists()
    assert not old_path.exists()  # the stale PDF is removed, not left to pile up
    stored = Invoice.objects.values_list("pdf_version", flat=True).get(pk=invoice.pk)
    assert stored == invoice_pdf_version(paid)


def test_a_cached_file_that_went_missing_is_rendered_again(private_media):
    invoice = _october_invoice()
    pdf = invoice_pdf(invoice)
    path = _cached_file(invoice, private_media)
    path.unlink()

    assert invoice_pdf(invoice) == pdf
    assert path.exists()


def test_render_task_queued_on_commit_renders_and_caches(
    private_media, django_capture_on_commit_callbacks
):
    invoice = _october_invoice()
    assert invoice.pdf_file == ""

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        transaction.on_commit(lambda: render_invoice_pdf.delay(invoice.pk))

    stored = Invoice.objects.select_related("account__client").get(pk=invoice.pk)
    assert stored.pdf_version == invoice_pdf_version(stored)
    path = private_media / stored.pdf_file
    assert path.read_bytes().startswith(b"%PDF-")
    # Running it twice is harmless: the current file is kept.
    mtime = path.stat().st_mtime_ns
    render_invoice_pdf(invoice.pk)
    assert path.stat().st_mtime_ns == mtime


def test_render_task_ignores_an_invoice_that_no_longer_exists(private_media):
    invoice = _october_invoice()
    missing = Invoice.objects.order_by("-pk").values_list("pk", flat=True).first() + 1

    assert render_invoice_pdf(missing) is None

    assert list(private_media.iterdir()) == []  # nothing rendered, nothing written
    assert Invoice.objects.values_list("pdf_file", flat=True).get(pk=invoice.pk) == ""


def test_a_billion_is_shown_with_thousands_separators_not_an_exponent():
    account = AccountFactory(payment_mode="postpaid", name="Big Spender")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        for n, amount in enumerate(("1000000000", "0.004567")):
            ledger_charge(
                account_id=account.pk,
                amount=amount,
                kind=EntryKind.USAGE,
                description=f"Usage {n}",
                idempotency_key=f"big-{n}",
            )
    invoicing_run_month(run_date=date(2026, 11, 1))
    invoice = Invoice.objects.select_related("account__client").get(account=account)
    assert invoice.total == Decimal("1000000000.00")

    text = _text(invoice_pdf(invoice))

    lines = text.splitlines()
    for shown in (
        "Subtotal 1,000,000,000.004567 USD",  # exact
        "Rounding \N{MINUS SIGN}0.004567 USD",
        "Total 1,000,000,000.00 USD",
        "Balance due 1,000,000,000.00 USD",
        "Usage 0 1 1,000,000,000.00 USD",  # the line, rounded for display
    ):
        assert shown in lines, shown
    assert "E+" not in text and "1000000000" not in text
