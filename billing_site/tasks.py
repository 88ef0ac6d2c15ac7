"""Beat's entries for the billing calendar: the same calendar `run_billing_cycle` runs."""

from datetime import date

from celery import shared_task

from .cycle import calendar_bill_chunk, calendar_catch_up, run_cycle


@shared_task(name="billing.run_billing_cycle", ignore_result=True)
def run_billing_cycle(run_date: str | None = None, wait: bool = False) -> None:
    """The daily firing and the hourly watchdog: every date since the last completed one,
    in order. With `run_date` (by hand): every step of that date.

    Chunks of the monthly run go to other workers, so many accounts bill in parallel.
    """
    if run_date:
        run_cycle(date.fromisoformat(run_date), fan_out=True)
    else:
        calendar_catch_up(fan_out=True, wait=wait)


@shared_task(name="billing.bill_invoice_chunk", ignore_result=True, acks_late=True)
def bill_invoice_chunk(
    *,
    step_id: int,
    dispatch_round: int,
    index: int,
    account_ids: list[int],
    run_date: str,
    catch_up: bool = False,
) -> int:
    """One chunk of the monthly run; safe to run twice (billed accounts are skipped)."""
    return calendar_bill_chunk(
        step_id=step_id,
        dispatch_round=dispatch_round,
        index=index,
        account_ids=account_ids,
        run_date=date.fromisoformat(run_date),
        catch_up=catch_up,
    )
