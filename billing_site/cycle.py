"""The billing calendar: what the scheduler runs on a date, in order.

`run_billing_cycle` (command and Celery task) walks these steps for one date. Each step
is a service call that is idempotent for its date, so a rerun, a double beat firing or a
restart after a crash does no work twice. Later features add their steps here.

The monthly invoicing step runs every day, not only on the 1st: it bills only accounts
that still lack last month's invoice, so a missed 1st is caught up the next day and a
prepaid account whose balance came back to zero gets its statement then.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from billing_site.exceptions import InvalidInput
from invoicing.services import (
    invoicing_close_erp,
    invoicing_mark_overdue,
    invoicing_remind_due,
    invoicing_run_month,
)
from ledger.services import ledger_expire_reservations
from subscriptions.services import subscriptions_renew


@dataclass(frozen=True)
class Context:
    run_date: date
    moment: datetime  # the instant the run looks from
    fan_out: bool  # queue chunks on Celery workers instead of running them here


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Context], int]


def _moment(run_date: date) -> datetime:
    """Now for today's run; the end of the day for any other date."""
    if run_date == timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.combine(run_date + timedelta(days=1), time.min))


def _monthly_invoicing(ctx: Context) -> int:
    if ctx.fan_out:
        from invoicing.tasks import dispatch_monthly_run

        return dispatch_monthly_run(ctx.run_date)
    return invoicing_run_month(run_date=ctx.run_date).invoices


STEPS: list[Step] = [
    Step("Expire holds", lambda ctx: ledger_expire_reservations(now=ctx.moment)),
    # Before invoicing: arrears charged on the 1st land on last month's invoice.
    Step("Renew subscriptions", lambda ctx: subscriptions_renew(run_date=ctx.run_date)),
    Step("Invoice last month", _monthly_invoicing),
    # External ERP mode: invoices issued open on an earlier day are closed for the ERP.
    Step("Close ERP invoices", lambda ctx: invoicing_close_erp(run_date=ctx.run_date)),
    Step("Remind due dates", lambda ctx: invoicing_remind_due(run_date=ctx.run_date)),
    Step("Mark overdue", lambda ctx: invoicing_mark_overdue(run_date=ctx.run_date)),
]


def run_cycle(
    run_date: date,
    *,
    fan_out: bool = False,
    on_step_done: Callable[[Step, int], None] | None = None,
) -> list[tuple[str, int]]:
    """Run every step for `run_date`; returns [(step name, count)] in order.

    A date still to come is refused: it would bill a month that has not ended.
    """
    if run_date > timezone.localdate():
        raise InvalidInput(
            f"{run_date} has not come yet; the billing cycle runs for today or earlier days.",
            field="date",
        )
    ctx = Context(run_date=run_date, moment=_moment(run_date), fan_out=fan_out)
    results = []
    for step in STEPS:
        count = step.run(ctx)
        results.append((step.name, count))
        if on_step_done:
            on_step_done(step, count)
    return results
