"""Beat's daily entry: the same calendar `run_billing_cycle` runs by hand."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from .cycle import run_cycle


@shared_task(name="billing.run_billing_cycle", ignore_result=True)
def run_billing_cycle(run_date: str | None = None) -> list:
    """Chunks of the monthly run go to other workers, so many accounts bill in parallel."""
    day = date.fromisoformat(run_date) if run_date else timezone.localdate()
    return run_cycle(day, fan_out=True)
