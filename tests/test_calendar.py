"""The billing calendar knows which (date, step) it completed and catches up the rest.

A beat firing lost in a broker outage is simply a day whose task never ran: the next run
(the daily firing, the hourly watchdog, or `run_billing_cycle` without --date) runs every
date since the last completed one, in order, each step only if not yet done for it, and a
day not done by its deadline is alerted once.
"""

import threading
from collections import Counter
from datetime import date, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django_celery_beat.models import PeriodicTask

from billing_site import cycle, tasks
from billing_site.models import CalendarStep, StepStatus
from invoicing.models import Invoice
from ledger.services import ledger_reserve
from notifications.models import Event, EventType
from tests.factories import AccountFactory
from tests.invoicing.helpers import at, charge

pytestmark = pytest.mark.django_db

KEYS = [
    "expire_holds",
    "renew_subscriptions",
    "invoice_last_month",
    "close_erp_invoices",
    "remind_due_dates",
    "mark_overdue",
]
JOIN_TIMEOUT = 60


def credit_account():
    with time_machine.travel(at(2026, 10, 1, 8)):
        return AccountFactory(payment_mode="credit_limit", credit_limit="1000")


def beat_fires(when: datetime) -> None:
    """The daily task (or the hourly watchdog) as a worker runs it at `when`."""
    with time_machine.travel(when):
        tasks.run_billing_cycle.delay()


def cycle_command(when: datetime, *args: str) -> str:
    out = StringIO()
    with time_machine.travel(when):
        call_command("run_billing_cycle", *args, stdout=out)
    return out.getvalue()


def steps_of(day: date) -> dict[str, CalendarStep]:
    return {row.step: row for row in CalendarStep.objects.filter(run_date=day)}


def completed(day: date) -> set[str]:
    return {key for key, row in steps_of(day).items() if row.status == StepStatus.COMPLETED}


def missed_alerts() -> list[str]:
    return sorted(
        Event.objects.filter(type=EventType.CALENDAR_MISSED).values_list("data__date", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_day_whose_beat_firing_was_lost_is_caught_up_in_order_by_the_next_firing():
    account = credit_account()
    charge(account, "40", at(2026, 11, 10, 12))
    beat_fires(at(2026, 11, 30, 0, 10))
    # 2026-12-01 00:10: beat cannot reach the broker; no worker ever runs that day.
    beat_fires(at(2026, 12, 2, 0, 10))

    invoice = Invoice.objects.get(account=account)
    # Billed on the missed billing day itself, and due 14 days after it.
    assert (invoice.issued_on, invoice.due_date) == (date(2026, 12, 1), date(2026, 12, 15))
    assert completed(date(2026, 12, 1)) == set(KEYS)
    assert completed(date(2026, 12, 2)) == set(KEYS)
    first = max(row.completed_at for row in steps_of(date(2026, 12, 1)).values())
    second = min(row.completed_at for row in steps_of(date(2026, 12, 2)).values())
    assert first < second


def test_run_billing_cycle_without_a_date_runs_every_day_since_the_last_completed_one():
    account = credit_account()
    charge(account, "40", at(2026, 11, 10, 12))
    cycle_command(at(2026, 11, 30, 0, 10))

    out = cycle_command(at(2026, 12, 2, 0, 10))

    lines = out.splitlines()
    assert [line.split(" done")[0] for line in lines] == [
        "Billing cycle for 2026-12-01",
        "Billing cycle for 2026-12-02",
    ]
    assert "invoice last month: 1" in lines[0]
    assert "invoice last month: 0" in lines[1]
    assert Invoice.objects.get(account=account).issued_on == date(2026, 12, 1)

    again = cycle_command(at(2026, 12, 2, 0, 40))
    assert again.strip() == "Billing cycle for 2026-12-02: every step already done."


def test_a_step_that_raises_leaves_its_date_incomplete_and_the_next_run_retries_it(monkeypatch):
    cycle_command(at(2026, 12, 1, 0, 10))
    calls = Counter()

    def counted(name, func):
        def wrapper(**kwargs):
            calls[name] += 1
            return func(**kwargs)

        return wrapper

    monkeypatch.setattr(
        cycle, "ledger_expire_reservations", counted("expire", cycle.ledger_expire_reservations)
    )
    monkeypatch.setattr(
        cycle, "invoicing_mark_overdue", counted("overdue", cycle.invoicing_mark_overdue)
    )
    remind = cycle.invoicing_remind_due

    def mail_server_down(**kwargs):
        raise ConnectionRefusedError("the mail server refused the connection")

    monkeypatch.setattr(cycle, "invoicing_remind_due", mail_server_down)
    with pytest.raises(ConnectionRefusedError):
        cycle_command(at(2026, 12, 2, 0, 10))

    assert calls == {"expire": 1}  # the steps after the failure did not run
    rows = steps_of(date(2026, 12, 2))
    assert rows["remind_due_dates"].status == StepStatus.FAILED
    assert "refused the connection" in rows["remind_due_dates"].error
    assert "mark_overdue" not in rows
    assert completed(date(2026, 12, 2)) == set(KEYS[:4])

    monkeypatch.setattr(cycle, "invoicing_remind_due", remind)
    out = cycle_command(at(2026, 12, 2, 1, 10))

    assert calls == {"expire": 1, "overdue": 1}  # done steps are not run again
    assert completed(date(2026, 12, 2)) == set(KEYS)
    assert steps_of(date(2026, 12, 2))["remind_due_dates"].attempts == 2
    assert "expire holds: already done" in out and "mark overdue: 0" in out


def fake_broker(monkeypatch, chunk_size=1) -> list[dict]:
    """Chunks go to a list instead of the workers; the test then plays the workers."""
    queue: list[dict] = []
    monkeypatch.setattr(cycle, "CHUNK_SIZE", chunk_size)
    monkeypatch.setattr(cycle, "_send_chunks", queue.extend)
    return queue


def accounts_to_bill(count: int) -> list:
    accounts = [credit_account() for _ in range(count)]
    for n, account in enumerate(accounts):
        charge(account, str(10 + n), at(2026, 11, 10, 12))
    return accounts


@pytest.mark.django_db(transaction=True)
def test_the_fanned_out_invoicing_step_completes_with_its_last_chunk(monkeypatch):
    accounts_to_bill(3)
    queue = fake_broker(monkeypatch)
    beat_fires(at(2026, 11, 30, 0, 10))
    beat_fires(at(2026, 12, 1, 0, 10))

    row = steps_of(date(2026, 12, 1))["invoice_last_month"]
    assert len(queue) == 3
    assert row.status == StepStatus.DISPATCHED  # queued is not done
    assert completed(date(2026, 12, 1)) == set(KEYS) - {"invoice_last_month"}

    beat_fires(at(2026, 12, 1, 0, 40))  # the watchdog leaves chunks in flight alone
    assert len(queue) == 3

    with time_machine.travel(at(2026, 12, 1, 0, 12)):
        tasks.bill_invoice_chunk(**queue[0])
        tasks.bill_invoice_chunk(**queue[1])
        tasks.bill_invoice_chunk(**queue[1])  # redelivered after a worker crash: nothing twice
    row = steps_of(date(2026, 12, 1))["invoice_last_month"]
    assert (row.status, row.count, Invoice.objects.count()) == (StepStatus.DISPATCHED, 2, 2)

    with time_machine.travel(at(2026, 12, 1, 0, 13)):
        tasks.bill_invoice_chunk(**queue[2])
    row = steps_of(date(2026, 12, 1))["invoice_last_month"]
    assert (row.status, row.count, Invoice.objects.count()) == (StepStatus.COMPLETED, 3, 3)
    assert completed(date(2026, 12, 1)) == set(KEYS)


@pytest.mark.django_db(transaction=True)
def test_a_catch_up_waits_for_a_days_chunks_and_the_last_chunk_runs_the_next_days(
    monkeypatch,
):
    accounts_to_bill(2)
    queue = fake_broker(monkeypatch)
    beat_fires(at(2026, 11, 30, 0, 10))
    beat_fires(at(2026, 12, 2, 0, 10))  # the 1st was lost; its chunks go out first

    assert len(queue) == 2
    assert completed(date(2026, 12, 1)) == set(KEYS) - {"invoice_last_month"}
    assert steps_of(date(2026, 12, 2)) == {}  # not before the 1st is done

    with time_machine.travel(at(2026, 12, 2, 0, 12)):
        for message in queue:
            tasks.bill_invoice_chunk(**message)

    assert completed(date(2026, 12, 1)) == set(KEYS)
    assert completed(date(2026, 12, 2)) == set(KEYS)
    assert Invoice.objects.filter(issued_on=date(2026, 12, 1)).count() == 2


@pytest.mark.django_db(transaction=True)
def test_chunks_finishing_together_complete_the_step_once_with_every_invoice_counted(
    monkeypatch,
):
    accounts_to_bill(4)
    queue = fake_broker(monkeypatch)
    beat_fires(at(2026, 12, 1, 0, 10))
    assert len(queue) == 4
    start = threading.Barrier(len(queue))
    errors: list[BaseException] = []

    def worker(message):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            tasks.bill_invoice_chunk(**message)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(at(2026, 12, 1, 0, 12)):
        threads = [threading.Thread(target=worker, args=(m,), daemon=True) for m in queue]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a chunk hung"
    assert not errors, errors

    row = steps_of(date(2026, 12, 1))["invoice_last_month"]
    assert (row.status, row.count, row.chunks_pending) == (StepStatus.COMPLETED, 4, [])
    assert Invoice.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_chunks_lost_with_the_broker_are_dispatched_again_by_a_later_watchdog(monkeypatch):
    accounts_to_bill(2)
    lost = fake_broker(monkeypatch)
    beat_fires(at(2026, 12, 1, 0, 10))
    assert len(lost) == 2 and not Invoice.objects.exists()

    monkeypatch.undo()  # the broker is back; the first messages never arrive
    beat_fires(at(2026, 12, 1, 1, 40))

    assert Invoice.objects.filter(issued_on=date(2026, 12, 1)).count() == 2
    row = steps_of(date(2026, 12, 1))["invoice_last_month"]
    assert (row.status, row.count, row.dispatch_round) == (StepStatus.COMPLETED, 2, 2)


def test_a_day_not_done_by_its_deadline_is_alerted_once_to_the_outbox_and_staff(
    settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.MANAGERS = [("Billing lead", "lead@example.com"), ("Ops", "ops@example.com")]
    cycle_command(at(2026, 11, 30, 0, 10))
    # Nothing runs on the 1st, nor on the 2nd before 07:00: both deadlines (06:00) pass.
    with django_capture_on_commit_callbacks(execute=True):  # staff mail goes after commit
        cycle_command(at(2026, 12, 2, 7, 0))

    assert missed_alerts() == ["2026-12-01", "2026-12-02"]
    event = Event.objects.get(type=EventType.CALENDAR_MISSED, data__date="2026-12-01")
    assert event.dedupe_key == "calendar.missed:2026-12-01"
    assert event.data["steps"]["invoice_last_month"] == "not run"
    assert len(mailoutbox) == 2
    assert sorted(mailoutbox[0].to) == ["lead@example.com", "ops@example.com"]
    assert "2026-12-01" in mailoutbox[0].subject

    with django_capture_on_commit_callbacks(execute=True):
        cycle_command(at(2026, 12, 2, 8, 0))  # the watchdog again: nothing new
        cycle_command(at(2026, 12, 3, 0, 10))  # done before its deadline: no alert
    assert missed_alerts() == ["2026-12-01", "2026-12-02"]
    assert len(mailoutbox) == 2


def test_a_day_whose_step_keeps_failing_is_alerted_when_its_deadline_passes(
    monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    cycle_command(at(2026, 12, 3, 0, 10))

    def broken(**kwargs):
        raise RuntimeError("renewals are broken")

    monkeypatch.setattr(cycle, "subscriptions_renew", broken)
    for when in (at(2026, 12, 4, 0, 10), at(2026, 12, 4, 5, 40)):
        with pytest.raises(RuntimeError):
            cycle_command(when)
    assert missed_alerts() == []  # failing, but still before 06:00

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        cycle_command(at(2026, 12, 4, 6, 40))
    assert missed_alerts() == ["2026-12-04"]
    event = Event.objects.get(type=EventType.CALENDAR_MISSED)
    assert event.data["steps"]["renew_subscriptions"] == "failed: RuntimeError: renewals are broken"
    assert event.data["steps"]["expire_holds"] == "completed"
    assert mailoutbox == []  # no ADMINS or MANAGERS set: the outbox event only


def test_run_billing_cycle_with_a_date_runs_every_step_again_and_keeps_the_first_completion():
    account = AccountFactory(funds="10")
    out = cycle_command(at(2026, 12, 2, 0, 10), "--date", "2026-12-02")
    assert out.startswith("Billing cycle for 2026-12-02 done (expire holds: 0, ")
    assert completed(date(2026, 12, 2)) == set(KEYS)
    first = steps_of(date(2026, 12, 2))["expire_holds"]

    with time_machine.travel(at(2026, 12, 2, 0, 20)):
        ledger_reserve(account_id=account.pk, amount="4", idempotency_key="h1", expires_in=60)
    out = cycle_command(at(2026, 12, 2, 9, 0), "--date", "2026-12-02")
    assert "(expire holds: 1, " in out  # the date was complete; --date runs it all the same
    again = cycle_command(at(2026, 12, 2, 9, 5), "--date", "2026-12-02")
    assert "(expire holds: 0, " in again

    row = steps_of(date(2026, 12, 2))["expire_holds"]
    assert (row.completed_at, row.count) == (first.completed_at, first.count)
    # The catch-up starts after the date --date completed.
    assert cycle_command(at(2026, 12, 2, 9, 10)).strip() == (
        "Billing cycle for 2026-12-02: every step already done."
    )


@pytest.mark.django_db(transaction=True)
def test_a_completed_step_is_final_in_the_database():
    cycle_command(at(2026, 12, 2, 0, 10), "--date", "2026-12-02")
    row = steps_of(date(2026, 12, 2))["mark_overdue"]
    with (
        pytest.raises(DatabaseError, match="completed calendar step"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE billing_site_calendarstep SET count = count + 1, completed_at = now() "
            "WHERE id = %s",
            [row.pk],
        )
    with (
        pytest.raises(DatabaseError, match="calendar_step_completed_has_time"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO billing_site_calendarstep (run_date, step, status, count, "
            "attempts, error, dispatch_round, chunks_pending, started_at) "
            "VALUES ('2026-12-03', 'mark_overdue', 'completed', 0, 1, '', 0, '{}', now())"
        )
    assert steps_of(date(2026, 12, 2))["mark_overdue"].status == StepStatus.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_catch_up_already_running_elsewhere_makes_the_next_firing_stand_aside():
    other = connections.create_connection("default")  # another process's session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [cycle.LOCK_KEY])
            beat_fires(at(2026, 12, 2, 0, 10))
            assert not CalendarStep.objects.exists()
            cursor.execute("SELECT pg_advisory_unlock(%s)", [cycle.LOCK_KEY])  # that run ends
    finally:
        other.close()
    beat_fires(at(2026, 12, 2, 0, 40))
    assert completed(date(2026, 12, 2)) == set(KEYS)


def test_beat_runs_the_catch_up_every_hour_as_a_watchdog():
    watchdog = PeriodicTask.objects.get(name="Billing calendar watchdog")
    assert watchdog.task == "billing.run_billing_cycle" and watchdog.enabled
    assert (watchdog.crontab.minute, watchdog.crontab.hour) == ("40", "*")


def test_the_steps_keep_the_names_their_rows_are_recorded_under():
    assert [step.key for step in cycle.STEPS] == KEYS
