"""The billing calendar: what the scheduler runs on a date, in order, and what it completed.

`run_cycle` walks these steps for one date. Each step is a service call that is
idempotent for its date, so a rerun, a double beat firing or a restart after a crash
does no work twice. Later features add their steps here (with a data migration marking
them completed for the days already done, or the catch-up sees those days unfinished).

The monthly invoicing step runs every day, not only on the 1st: it bills only accounts
that still lack last month's invoice, so a missed 1st is caught up the next day and a
prepaid account whose balance came back to zero gets its statement then.

What was done is recorded, one `CalendarStep` row per (date, step), because beat's own
record says only that it *sent* the daily task: a firing lost in a broker outage looks
like a run. The rows are written

- for every step but the fanned-out monthly run, right after the step returns. Those
  steps commit item by item (a hold, a subscription, an invoice each in its own
  transaction): one transaction around a step and its row would hold every lock of the
  day until the end and lose all progress on a crash, while a row written after it
  costs at most this: a crash between the step's last commit and its row makes the
  next run repeat the (idempotent) step, which finds nothing left to do;
- for the monthly run fanned out over workers, by its chunks: each chunk is one
  transaction and ticks itself off in it (`calendar_bill_chunk`), so the step completes
  with the last chunk of its round, never when the chunks are merely queued.

The catch-up (`calendar_catch_up`: beat's daily firing, the hourly watchdog, and
`run_billing_cycle` without --date) runs every date from the day after the last
completed one up to today, in order, each step only if not yet completed for that date.
It stops at the first step that raises (its date stays unfinished and the next run
retries from there) and at a date whose chunks are still out (the last chunk queues the
catch-up again). A day not done by its `DEADLINE` is alerted once: a `calendar.missed`
event in the outbox and an e-mail to ADMINS and MANAGERS when they are set.
`run_billing_cycle --date` runs every step of that one date, done or not.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from billing_site.exceptions import InvalidInput
from billing_site.models import CalendarStep, StepStatus
from invoicing.services import (
    invoicing_accounts_due,
    invoicing_bill_accounts,
    invoicing_close_erp,
    invoicing_mark_overdue,
    invoicing_remind_due,
    invoicing_run_month,
)
from invoicing.services.issue import DEFAULT_CHUNK_SIZE, chunks
from ledger.services import ledger_expire_reservations
from notifications.models import Event, EventType
from notifications.services import event_record
from subscriptions.services import subscriptions_renew

logger = logging.getLogger(__name__)

DEADLINE = time(6)  # a day's steps are due done by 06:00 that day (local time)
CATCH_UP_DAYS = 31  # how far back a catch-up reaches
STALE_DISPATCH = timedelta(hours=1)  # chunks out longer than this are queued again
CHUNK_SIZE = DEFAULT_CHUNK_SIZE
LOCK_KEY = int.from_bytes(b"calendar", "big")  # advisory lock: one catch-up at a time


@dataclass(frozen=True)
class Context:
    run_date: date
    moment: datetime  # the instant the run looks from
    fan_out: bool  # queue chunks on Celery workers instead of running them here
    catch_up: bool = False  # the catch-up's own run: its chunks alert and continue it


@dataclass(frozen=True)
class Step:
    key: str  # what the calendar's rows call it; never renamed
    name: str
    run: Callable[[Context], int]
    fans_out: bool = False  # with `fan_out`, queued in chunks instead of run here


class StepRun(NamedTuple):
    name: str
    count: int | None  # None: not run this time, `note` says why
    note: str = ""

    def __str__(self):
        return f"{self.name.lower()}: {self.note if self.count is None else self.count}"


def _moment(run_date: date) -> datetime:
    """Now for today's run; the end of the day for any other date."""
    if run_date == timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.combine(run_date + timedelta(days=1), time.min))


STEPS: list[Step] = [
    Step("expire_holds", "Expire holds", lambda ctx: ledger_expire_reservations(now=ctx.moment)),
    # Before invoicing: arrears charged on the 1st land on last month's invoice.
    Step(
        "renew_subscriptions",
        "Renew subscriptions",
        lambda ctx: subscriptions_renew(run_date=ctx.run_date),
    ),
    Step(
        "invoice_last_month",
        "Invoice last month",
        lambda ctx: invoicing_run_month(run_date=ctx.run_date).invoices,
        fans_out=True,
    ),
    # External ERP mode: invoices issued open on an earlier day are closed for the ERP.
    Step(
        "close_erp_invoices",
        "Close ERP invoices",
        lambda ctx: invoicing_close_erp(run_date=ctx.run_date),
    ),
    Step(
        "remind_due_dates",
        "Remind due dates",
        lambda ctx: invoicing_remind_due(run_date=ctx.run_date),
    ),
    Step("mark_overdue", "Mark overdue", lambda ctx: invoicing_mark_overdue(run_date=ctx.run_date)),
]
STEP_NAMES = {step.key: step.name for step in STEPS}


def deadline_of(run_date: date) -> datetime:
    return timezone.make_aware(datetime.combine(run_date, DEADLINE))


# -- one date -------------------------------------------------------------------------


def run_cycle(
    run_date: date,
    *,
    fan_out: bool = False,
    on_step_done: Callable[[Step, int | None], None] | None = None,
    skip_completed: bool = False,
    catch_up: bool = False,
) -> list[StepRun]:
    """Run the steps for `run_date` in order, recording each; returns what each did.

    `skip_completed`: leave out the steps already completed for the date (and, when
    fanning out, the monthly run whose chunks are still out). A date still to come is
    refused: it would bill a month that has not ended.
    """
    if run_date > timezone.localdate():
        raise InvalidInput(
            f"{run_date} has not come yet; the billing cycle runs for today or earlier days.",
            field="date",
        )
    ctx = Context(run_date=run_date, moment=_moment(run_date), fan_out=fan_out, catch_up=catch_up)
    rows = (
        {row.step: row for row in CalendarStep.objects.filter(run_date=run_date)}
        if skip_completed
        else {}
    )
    results = []
    for step in STEPS:
        why_not = _skip_reason(step, rows.get(step.key), ctx)
        result = StepRun(step.name, None, why_not) if why_not else _run_step(step, ctx)
        results.append(result)
        if on_step_done:
            on_step_done(step, result.count)
    return results


def _skip_reason(step: Step, row: CalendarStep | None, ctx: Context) -> str:
    if row is None:
        return ""
    if row.status == StepStatus.COMPLETED:
        return "already done"
    fresh = row.started_at > timezone.now() - STALE_DISPATCH
    if ctx.fan_out and step.fans_out and row.status == StepStatus.DISPATCHED and fresh:
        return f"{len(row.chunks_pending)} chunk(s) still out"
    return ""


def _run_step(step: Step, ctx: Context) -> StepRun:
    calendar_step_begin(run_date=ctx.run_date, step=step.key)
    try:
        if ctx.fan_out and step.fans_out:
            return StepRun(step.name, _dispatch(step, ctx))
        count = step.run(ctx)
    except Exception as exc:
        _record_failure(ctx.run_date, step.key, exc)
        raise
    calendar_step_complete(run_date=ctx.run_date, step=step.key, count=count)
    return StepRun(step.name, count)


def calendar_step_begin(*, run_date: date, step: str) -> CalendarStep:
    """The row of an attempt starting now (a completed row is left as it is)."""
    now = timezone.now()
    with transaction.atomic():
        row, created = CalendarStep.objects.select_for_update().get_or_create(
            run_date=run_date, step=step, defaults={"started_at": now}
        )
        if not created and row.status != StepStatus.COMPLETED:
            row.restart(at=now)
            row.save()
    return row


def calendar_step_complete(*, run_date: date, step: str, count: int) -> CalendarStep:
    """Record the step done for the date; the first completion stays (rows are final).

    `count` adds to what chunks of an earlier dispatch counted on the row, if any.
    """
    with transaction.atomic():
        row = CalendarStep.objects.select_for_update().get(run_date=run_date, step=step)
        if row.status != StepStatus.COMPLETED:
            row.complete(at=timezone.now(), count=row.count + count)
            row.save()
    return row


def calendar_step_fail(*, run_date: date, step: str, error: str) -> None:
    with transaction.atomic():
        row = CalendarStep.objects.select_for_update().get(run_date=run_date, step=step)
        if row.status != StepStatus.COMPLETED:
            row.fail(error=error)
            row.save()


def _record_failure(run_date: date, step: str, exc: Exception) -> None:
    """Say why the step failed, without ever hiding the failure itself."""
    try:
        calendar_step_fail(run_date=run_date, step=step, error=f"{type(exc).__name__}: {exc}")
    except DatabaseError:
        logger.exception("Could not record that step %s of %s failed.", step, run_date)


def calendar_day_complete(run_date: date) -> bool:
    done = CalendarStep.objects.filter(
        run_date=run_date, step__in=STEP_NAMES, status=StepStatus.COMPLETED
    ).count()
    return done == len(STEPS)


# -- the monthly run on the workers ---------------------------------------------------


def _dispatch(step: Step, ctx: Context) -> int:
    """Queue the accounts still to bill in numbered chunks; returns how many chunks."""
    parts = chunks(invoicing_accounts_due(run_date=ctx.run_date), CHUNK_SIZE)
    if not parts:
        calendar_step_complete(run_date=ctx.run_date, step=step.key, count=0)
        return 0
    with transaction.atomic():
        row = CalendarStep.objects.select_for_update().get(run_date=ctx.run_date, step=step.key)
        if row.status != StepStatus.COMPLETED:  # completed: --date bills again, untracked
            row.dispatch(chunks=len(parts))
            row.save()
        messages = [
            {
                "step_id": row.pk,
                "dispatch_round": row.dispatch_round,
                "index": index,
                "account_ids": part,
                "run_date": ctx.run_date.isoformat(),
                "catch_up": ctx.catch_up,
            }
            for index, part in enumerate(parts)
        ]
        # After commit: a worker must find the round it belongs to.
        transaction.on_commit(lambda: _send_chunks(messages))
    return len(parts)


def _send_chunks(messages: list[dict]) -> None:
    from celery import group

    from .tasks import bill_invoice_chunk  # the tasks import this module

    group(bill_invoice_chunk.s(**message) for message in messages).apply_async()


def calendar_bill_chunk(
    *,
    step_id: int,
    dispatch_round: int,
    index: int,
    account_ids: list[int],
    run_date: date,
    catch_up: bool = False,
) -> int:
    """Bill one chunk and tick it off its round in the same transaction; the last chunk
    completes the step. Safe to run twice: billed accounts are skipped, and a chunk
    ticked off already (or of an older round) ticks nothing."""
    with transaction.atomic():
        issued = invoicing_bill_accounts(account_ids=account_ids, run_date=run_date).invoices
        # Locked last, after the chunk's own rows: chunks queue on it only for the moment
        # a tick takes, and none waits for another lock while holding it.
        row = CalendarStep.objects.select_for_update().filter(pk=step_id).first()
        if row is None or row.status == StepStatus.COMPLETED:
            return issued
        row.count += issued
        current = row.status == StepStatus.DISPATCHED and row.dispatch_round == dispatch_round
        if current and index in row.chunks_pending:
            row.chunks_pending = [n for n in row.chunks_pending if n != index]
            if not row.chunks_pending:
                row.complete(at=timezone.now())
        row.save()
        if catch_up and row.status == StepStatus.COMPLETED and calendar_day_complete(run_date):
            calendar_alert_missed(dates=[run_date], now=timezone.now())
            if run_date < timezone.localdate():
                transaction.on_commit(_continue_catch_up)
    return issued


def _continue_catch_up() -> None:
    from .tasks import run_billing_cycle

    try:
        run_billing_cycle.delay(wait=True)
    except Exception:  # the chunk's work is committed; the hourly watchdog goes on
        logger.exception("Could not queue the billing calendar's catch-up.")


# -- catching up ----------------------------------------------------------------------


@contextmanager
def _one_catch_up(*, wait: bool) -> Iterator[bool]:
    """A PostgreSQL advisory lock, so two firings never run the same days side by side."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def calendar_catch_up(
    *,
    fan_out: bool = False,
    wait: bool = True,
    on_dates: Callable[[list[date]], None] | None = None,
    on_step_done: Callable[[Step, int | None], None] | None = None,
) -> list[tuple[date, list[StepRun]]] | None:
    """Run every date since the last completed one up to today, in order.

    Returns [(date, what each step did)], or None when another catch-up holds the lock
    and `wait` is False (beat's firings: the running one does the work).
    """
    with _one_catch_up(wait=wait) as acquired:
        if not acquired:
            logger.info("The billing calendar is being caught up elsewhere; standing aside.")
            return None
        state = calendar_state()
        dates = [day.run_date for day in state.days]
        # Before the first completed day the calendar cannot say what it missed.
        alert = state.known
        if on_dates:
            on_dates(dates)
        if alert:
            calendar_alert_missed(dates=dates, now=timezone.now())
        done = []
        try:
            for day in dates:
                runs = run_cycle(
                    day,
                    fan_out=fan_out,
                    on_step_done=on_step_done,
                    skip_completed=True,
                    catch_up=alert,
                )
                done.append((day, runs))
                if not calendar_day_complete(day):
                    break  # chunks still out: the last of them runs the catch-up again
        finally:
            if alert:
                _alert_after_run(dates)
        return done


def _alert_after_run(dates: list[date]) -> None:
    """A day done late, or still not done, once the run is over (never masking its error)."""
    try:
        calendar_alert_missed(dates=dates, now=timezone.now())
    except Exception:
        logger.exception("Could not check the billing calendar's deadlines.")


# -- deadlines ------------------------------------------------------------------------


def _step_text(row: CalendarStep | None) -> str:
    if row is None:
        return "not run"
    if row.status == StepStatus.FAILED:
        return f"failed: {row.error}"
    since = f"{timezone.localtime(row.started_at):%H:%M}"
    if row.status == StepStatus.DISPATCHED:
        return f"waiting for {len(row.chunks_pending)} chunk(s) since {since}"
    if row.status == StepStatus.RUNNING:
        return f"running since {since}"
    return "completed"


def calendar_alert_missed(*, dates: list[date], now: datetime) -> list[date]:
    """Record `calendar.missed` once for each of `dates` whose steps were not all done
    by its deadline (still unfinished, or finished late); returns the dates alerted."""
    due = [day for day in dates if now >= deadline_of(day)]
    if not due:
        return []
    keys = {f"calendar.missed:{day.isoformat()}": day for day in due}
    known = set(Event.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    due = [day for key, day in keys.items() if key not in known]
    days = {day: CalendarDay(day, {}) for day in due}
    for row in CalendarStep.objects.filter(run_date__in=due):
        days[row.run_date].rows[row.step] = row
    alerted = []
    for day in due:
        if days[day].done_by_deadline:
            continue
        data = days[day].alert_data()
        with transaction.atomic():
            event = event_record(
                type=EventType.CALENDAR_MISSED,
                data=data,
                dedupe_key=f"calendar.missed:{day.isoformat()}",
            )
            if event is not None:
                transaction.on_commit(lambda data=data: _mail_staff(data))
        if event is not None:
            alerted.append(day)
            logger.warning("Billing calendar: %s was not done by its deadline.", day)
    return alerted


def _staff_addresses() -> list[str]:
    addresses = []
    for entry in [*settings.ADMINS, *settings.MANAGERS]:
        address = entry[1] if isinstance(entry, list | tuple) else entry
        if address and address not in addresses:
            addresses.append(address)
    return addresses


def _mail_staff(data: dict) -> None:
    """Best effort: the event is the record (and the dashboard shows the day anyway)."""
    to = _staff_addresses()
    if not to:
        return
    lines = [
        f"The billing calendar's steps for {data['date']} were not all done by {DEADLINE:%H:%M}.",
        "",
        *(f"- {STEP_NAMES.get(key, key)}: {text}" for key, text in data["steps"].items()),
        "",
        "The daily task and the hourly watchdog catch up in order; "
        "`manage.py run_billing_cycle` does it now.",
    ]
    message = EmailMessage(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}Billing calendar: {data['date']} missed "
        f"its {DEADLINE:%H:%M} deadline",
        body="\n".join(lines),
        to=to,
    )
    try:
        message.send()
    except OSError:
        logger.exception("Could not e-mail staff that %s was missed.", data["date"])


# -- where the calendar is --------------------------------------------------------------


@dataclass
class CalendarDay:
    run_date: date
    rows: dict[str, CalendarStep]

    @property
    def deadline(self) -> datetime:
        return deadline_of(self.run_date)

    @property
    def complete(self) -> bool:
        return all(
            key in self.rows and self.rows[key].status == StepStatus.COMPLETED for key in STEP_NAMES
        )

    @property
    def done_by_deadline(self) -> bool:
        return self.complete and all(
            self.rows[key].completed_at <= self.deadline for key in STEP_NAMES
        )

    def missed(self, now: datetime) -> bool:
        return now >= self.deadline and not self.done_by_deadline

    def steps(self) -> list[tuple[Step, str]]:
        return [(step, _step_text(self.rows.get(step.key))) for step in STEPS]

    def behind(self, now: datetime) -> list[tuple[Step, str]]:
        """Steps that need someone: failed, or chunks out longer than they should be."""
        late = now - STALE_DISPATCH
        return [
            (step, _step_text(row))
            for step in STEPS
            if (row := self.rows.get(step.key)) is not None
            and (
                row.status == StepStatus.FAILED
                or (row.status == StepStatus.DISPATCHED and row.started_at < late)
            )
        ]

    def alert_data(self) -> dict:
        finished = max(r.completed_at for r in self.rows.values()) if self.complete else None
        return {
            "date": self.run_date.isoformat(),
            "deadline": self.deadline.isoformat(),
            "completed_at": finished.isoformat() if finished else None,
            "steps": {step.key: text for step, text in self.steps()},
        }


@dataclass
class CalendarState:
    now: datetime
    last_complete: date | None  # the latest date whose every step is completed
    last_step: CalendarStep | None  # the latest step completed since then
    days: list[CalendarDay]  # the dates still to run: after `last_complete`, up to today
    known: bool  # has the calendar recorded anything yet

    @property
    def late_days(self) -> list[CalendarDay]:
        """The days to warn of: missed (past their deadline), or with a step behind."""
        return [day for day in self.days if day.missed(self.now) or day.behind(self.now)]


def calendar_last_complete_date() -> date | None:
    return (
        CalendarStep.objects.filter(status=StepStatus.COMPLETED, step__in=STEP_NAMES)
        .values("run_date")
        .annotate(steps=Count("id"))
        .filter(steps=len(STEPS))
        .order_by("-run_date")
        .values_list("run_date", flat=True)
        .first()
    )


def calendar_state(*, now: datetime | None = None) -> CalendarState:
    """Where the calendar is, in two queries whatever its history."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    floor = today - timedelta(days=CATCH_UP_DAYS)
    last = calendar_last_complete_date()
    since = last if last is not None and last >= floor else floor
    by_date: dict[date, CalendarDay] = {}
    for row in CalendarStep.objects.filter(run_date__gte=since, run_date__lte=today):
        by_date.setdefault(row.run_date, CalendarDay(row.run_date, {})).rows[row.step] = row
    if last is not None:
        start = max(last + timedelta(days=1), floor)
    else:  # never completed a day: from its first unfinished one, or today
        start = min((d for d, day in by_date.items() if not day.complete), default=today)
    days = [
        by_date.get(start + timedelta(days=n), CalendarDay(start + timedelta(days=n), {}))
        for n in range((today - start).days + 1)
    ]
    completed = [
        row
        for day in by_date.values()
        if last is None or day.run_date >= last
        for row in day.rows.values()
        if row.status == StepStatus.COMPLETED
    ]
    return CalendarState(
        now=now,
        last_complete=last,
        last_step=max(completed, key=lambda row: row.completed_at, default=None),
        days=days,
        known=last is not None or bool(by_date),
    )
