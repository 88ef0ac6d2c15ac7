"""The billing calendar: what the scheduler runs on a date, in order.

`run_billing_cycle` (command and Celery task) walks these steps for one date. Each step
is a service call that is idempotent for its date, so a rerun, a double beat firing or a
restart after a crash does no work twice. Later features add their steps here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from ledger.services import ledger_expire_reservations


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[date, datetime], int]


def _moment(run_date: date) -> datetime:
    """The instant a date's run looks from: now for today, the end of the day otherwise."""
    today = timezone.localdate()
    if run_date == today:
        return timezone.now()
    return timezone.make_aware(datetime.combine(run_date + timedelta(days=1), time.min))


STEPS: list[Step] = [
    Step("Expire holds", lambda run_date, moment: ledger_expire_reservations(now=moment)),
]


def run_cycle(run_date: date, *, on_step_done: Callable[[Step, int], None] | None = None):
    """Run every step for `run_date`; returns [(step name, count)] in order."""
    moment = _moment(run_date)
    results = []
    for step in STEPS:
        count = step.run(run_date, moment)
        results.append((step.name, count))
        if on_step_done:
            on_step_done(step, count)
    return results
