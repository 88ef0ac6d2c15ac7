"""Thin Celery entry points for invoicing; the work is in invoicing.services."""

from datetime import date

from celery import group, shared_task

from .models import Invoice
from .pdf import invoice_pdf
from .services import invoicing_accounts_due, invoicing_bill_accounts
from .services.issue import DEFAULT_CHUNK_SIZE, chunks


@shared_task(name="invoicing.bill_accounts", ignore_result=True, acks_late=True)
def bill_accounts(account_ids: list[int], run_date: str) -> int:
    """One chunk of the monthly run; safe to run twice (accounts already billed are skipped)."""
    return invoicing_bill_accounts(
        account_ids=account_ids, run_date=date.fromisoformat(run_date)
    ).invoices


def dispatch_monthly_run(run_date: date, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Queue one task per chunk of accounts still to bill; returns how many chunks."""
    parts = chunks(invoicing_accounts_due(run_date=run_date), chunk_size)
    if parts:
        group(bill_accounts.s(part, run_date.isoformat()) for part in parts).apply_async()
    return len(parts)


@shared_task(name="invoicing.render_invoice_pdf", ignore_result=True, acks_late=True)
def render_invoice_pdf(invoice_id: int) -> None:
    """Warm the invoice's cached PDF; queue it with `transaction.on_commit` after a change.

    Safe to run twice: a PDF that is still current is left as it is.
    """
    invoice = Invoice.objects.select_related("account__client").filter(pk=invoice_id).first()
    if invoice is not None:
        invoice_pdf(invoice)


@shared_task(name="invoicing.render_invoice_pdfs", ignore_result=True, acks_late=True)
def render_invoice_pdfs(invoice_ids: list[int]) -> None:
    """Warm the PDFs of a batch of invoices (a chunk of the monthly run, say)."""
    for invoice_id in invoice_ids:
        render_invoice_pdf(invoice_id)
