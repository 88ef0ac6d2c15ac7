"""Steps shared by the invoicing tests: book at a chosen instant, run the calendar, count.

Entries get their `created_at` from the clock (auto_now_add), so a test that needs a
charge on a given instant travels there while booking it.
"""

from datetime import date, datetime
from io import StringIO

import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AccountStateChange
from invoicing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatusChange,
    Payment,
    PaymentAllocation,
)
from invoicing.selectors import invoice_mismatches
from invoicing.services import invoicing_run_month
from ledger.models import Balance, Entry, EntryKind
from ledger.selectors import ledger_mismatches
from ledger.services import ledger_charge, ledger_receive_payment


def at(year: int, month: int, day: int, *rest: int) -> datetime:
    """An aware instant in the site's time zone (UTC)."""
    return timezone.make_aware(datetime(year, month, day, *rest))


def charge(
    account,
    amount,
    when: datetime,
    *,
    key: str | None = None,
    kind: str = EntryKind.USAGE,
    description: str = "Usage",
) -> Entry:
    with time_machine.travel(when, tick=False):
        return ledger_charge(
            account_id=account.pk,
            amount=amount,
            idempotency_key=key or f"charge-{when:%Y%m%d%H%M%S%f}-{amount}",
            kind=kind,
            description=description,
        ).entry


def pay(account, amount, when: datetime, *, key: str | None = None) -> Entry:
    with time_machine.travel(when, tick=False):
        return ledger_receive_payment(
            account_id=account.pk,
            amount=amount,
            idempotency_key=key or f"payment-{when:%Y%m%d%H%M%S%f}-{amount}",
        ).entry


def run_month(run_date: date, **kwargs):
    """The monthly run as the scheduler starts it: shortly after midnight on `run_date`."""
    with time_machine.travel(at(run_date.year, run_date.month, run_date.day, 0, 5)):
        return invoicing_run_month(run_date=run_date, **kwargs)


def run_cycle(day: str) -> str:
    """`manage.py run_billing_cycle --date day`, run on that day; returns its output."""
    run_date = date.fromisoformat(day)
    out = StringIO()
    with time_machine.travel(at(run_date.year, run_date.month, run_date.day, 6)):
        call_command("run_billing_cycle", "--date", day, stdout=out)
    return out.getvalue()


def reload(invoice: Invoice) -> Invoice:
    """Read an invoice again (protected FSM fields refuse `refresh_from_db`)."""
    return Invoice.objects.get(pk=invoice.pk)


def footprint() -> dict:
    """Everything a run or a payment can write, so a rerun can be shown to write nothing."""
    return {
        "invoices": Invoice.objects.count(),
        "lines": InvoiceLine.objects.count(),
        "entries": Entry.objects.count(),
        "allocations": PaymentAllocation.objects.count(),
        "payments": Payment.objects.count(),
        "invoice_logs": InvoiceStatusChange.objects.count(),
        "account_logs": AccountStateChange.objects.count(),
        "series": sorted(InvoiceSeries.objects.values_list("year", "next_number")),
        "statuses": sorted(Invoice.objects.values_list("number", "status", "amount_paid")),
        "balances": sorted(
            Balance.objects.values_list(
                "account_id", "balance", "unbilled", "entry_count", "billed_until"
            )
        ),
    }


def assert_books_agree() -> None:
    """Balance rows equal their entries; every invoice agrees with its lines and entries."""
    problems = [str(m) for m in ledger_mismatches()] + [str(m) for m in invoice_mismatches()]
    assert not problems, problems
