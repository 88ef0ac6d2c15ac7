"""Beat's daily entry fans the monthly run out over workers, through a real broker.

The rest of the suite runs Celery eagerly, where a task's arguments are handed over as
Python objects: a date, a set or a Decimal would pass there and fail in production,
where every message crosses the broker as JSON. Here beat's messages go to Redis and a
real worker takes them, runs the calendar, queues the chunks of the monthly run, takes
those too, and every account is billed once.
"""

from datetime import date

import pytest
import time_machine

from billing_site import cycle
from billing_site.models import CalendarStep, StepStatus
from invoicing.models import Invoice
from tests.celery_worker import app, thread_worker, wait_until_idle
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, footprint

pytestmark = pytest.mark.django_db(transaction=True)

BILLING_DAY = date(2026, 12, 1)
DAILY_TASK = "billing.run_billing_cycle"  # the task of beat's "Daily billing cycle"


def accounts_with_november_usage() -> list:
    with time_machine.travel(at(2026, 11, 1, 8)):
        accounts = [
            AccountFactory(payment_mode="credit_limit", credit_limit="1000"),
            AccountFactory(payment_mode="postpaid", currency="EUR"),
            AccountFactory(funds="500", currency="JPY"),
            AccountFactory(payment_mode="credit_limit", credit_limit="1000", currency="BHD"),
            AccountFactory(payment_mode="postpaid"),
        ]
    for n, account in enumerate(accounts):
        charge(account, f"{n + 1}.123457", at(2026, 11, 10 + n, 12))
    return accounts


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({}, id="beat's daily firing"),
        pytest.param({"run_date": BILLING_DAY.isoformat()}, id="by hand for a date"),
    ],
)
def test_the_daily_task_fans_out_through_the_broker_and_bills_each_account_once(
    monkeypatch, message
):
    accounts = accounts_with_november_usage()
    monkeypatch.setattr(cycle, "CHUNK_SIZE", 2)  # five accounts: three chunks

    with time_machine.travel(at(2026, 12, 1, 0, 10)), thread_worker() as ran:
        app.send_task(DAILY_TASK, kwargs=message)
        wait_until_idle()

    names = [name for name, _, _ in ran]
    assert names[0] == DAILY_TASK
    assert ran[0][2] == message
    # Then the chunks, each a message of its own (the invoices' e-mails and webhooks
    # follow through the broker too).
    chunks = [name for name in names[1:] if name.startswith("billing.")]
    assert len(chunks) == 3 and DAILY_TASK not in chunks, names
    for account in accounts:
        invoices = Invoice.objects.filter(account=account)
        assert [(i.period_start, i.issued_on) for i in invoices] == [
            (date(2026, 11, 1), BILLING_DAY)
        ]
    steps = CalendarStep.objects.filter(run_date=BILLING_DAY)
    assert {row.step: row.status for row in steps} == {
        step.key: StepStatus.COMPLETED for step in cycle.STEPS
    }
    assert steps.get(step="invoice_last_month").count == len(accounts)
    assert_books_agree()


def test_beat_firing_again_through_the_broker_bills_nothing_twice():
    accounts_with_november_usage()
    with time_machine.travel(at(2026, 12, 1, 0, 10)), thread_worker():
        app.send_task(DAILY_TASK)
        wait_until_idle()
    assert Invoice.objects.count() == 5
    before = footprint()

    with time_machine.travel(at(2026, 12, 1, 1, 10)), thread_worker() as ran:
        app.send_task(DAILY_TASK)  # the hourly watchdog, the same task
        wait_until_idle()

    assert [name for name, _, _ in ran] == [DAILY_TASK]  # no chunk queued again
    assert footprint() == before
