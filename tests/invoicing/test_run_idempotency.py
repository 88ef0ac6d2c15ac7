"""The monthly run bills each account once per period, however often it is started."""

import os
import re
import signal
from collections import Counter
from datetime import date, timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.services import account_convert_mode
from billing_site.models import CalendarStep, StepStatus
from invoicing.models import Invoice, InvoiceKind, InvoiceStatus, Payment
from invoicing.services import invoicing_accounts_due, invoicing_bill_accounts
from tests.celery_worker import (
    app,
    holds_lock,
    process_worker,
    wait_until,
    wait_until_idle,
    waiting_backends,
)
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, footprint, pay, run_cycle, run_month

pytestmark = pytest.mark.django_db

RUN_DATE = date(2026, 12, 1)
DAILY_TASK = "billing.run_billing_cycle"


@pytest.fixture
def november():
    """One account of every kind the run meets, with November charges."""
    with time_machine.travel(at(2026, 11, 1, 8)):
        credit = AccountFactory(payment_mode="credit_limit", credit_limit="500")
        paid_ahead = AccountFactory(payment_mode="credit_limit", credit_limit="500")
        postpaid = AccountFactory(payment_mode="postpaid", currency="JPY")
        prepaid = AccountFactory(funds="100", currency="EUR")
        in_debt = AccountFactory(payment_mode="postpaid")
    pay(paid_ahead, "50", at(2026, 11, 2, 9))
    for n, account in enumerate([credit, paid_ahead, postpaid, prepaid, in_debt], start=1):
        charge(account, f"{n}.123457", at(2026, 11, 5 + n, 10), key="a")
        charge(account, f"{n}.5", at(2026, 11, 20, 10), key="b")
    with time_machine.travel(at(2026, 11, 25)):
        account_convert_mode(
            account_id=in_debt.pk, payment_mode="prepaid", reason="Postpaid switched off"
        )
    return {
        "credit": credit,
        "paid_ahead": paid_ahead,
        "postpaid": postpaid,
        "prepaid": prepaid,
        "in_debt": in_debt,
    }


def test_running_the_month_twice_bills_nothing_twice(november):
    first = run_month(RUN_DATE)
    assert (first.invoices, first.skipped_negative_prepaid) == (4, 1)
    assert Invoice.objects.get(account=november["paid_ahead"]).status == InvoiceStatus.PAID
    before = footprint()

    second = run_month(RUN_DATE)

    assert (second.invoices, second.skipped_negative_prepaid) == (0, 1)
    assert footprint() == before
    assert_books_agree()


@time_machine.travel(at(2026, 12, 1, 0, 5))
def test_a_chunk_billed_twice_by_a_double_beat_firing_bills_nothing_twice(november):
    chunk = invoicing_accounts_due(run_date=RUN_DATE)
    assert len(chunk) == 5

    assert invoicing_bill_accounts(account_ids=chunk, run_date=RUN_DATE).invoices == 4
    before = footprint()
    assert invoicing_bill_accounts(account_ids=chunk, run_date=RUN_DATE).invoices == 0
    assert invoicing_bill_accounts(account_ids=chunk, run_date=RUN_DATE).invoices == 0
    assert footprint() == before
    assert invoicing_accounts_due(run_date=RUN_DATE) == [november["in_debt"].pk]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_whose_worker_is_killed_mid_run_is_redelivered_and_bills_each_account_once(
    tmp_path,
):
    """acks_late redelivery for real. `celery worker` (prefork, the project's settings)
    takes the daily task from Redis, which queues the monthly run's chunk; the worker
    takes the chunk, writes its invoices, and its pool process is killed with SIGKILL
    (an OOM kill) before the commit. The unacknowledged message goes back to the queue,
    a new pool process runs it again, and every account is billed once."""
    run_date = timezone.localdate()  # the worker runs on the real clock
    last_month = run_date.replace(day=1) - timedelta(days=1)
    accounts = [
        AccountFactory(payment_mode="credit_limit", credit_limit="500"),
        AccountFactory(payment_mode="postpaid", currency="EUR"),
        AccountFactory(payment_mode="credit_limit", credit_limit="500", currency="JPY"),
    ]
    for n, account in enumerate(accounts, start=1):
        charge(account, f"{n}0.123457", at(last_month.year, last_month.month, 10, 12))

    with process_worker(tmp_path / "worker.log") as worker:
        # Hold the invoice lines' table, so the chunk stops right after writing its
        # invoices (the other steps of the day never touch lines).
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE invoicing_invoiceline IN ACCESS EXCLUSIVE MODE")
            app.send_task(DAILY_TASK, kwargs={"run_date": run_date.isoformat()})
            wait_until(lambda: waiting_backends("invoicing_invoiceline"), "the chunk's lines")
            [backend] = waiting_backends("invoicing_invoiceline")
            assert holds_lock(backend, "invoicing_invoice", "RowExclusiveLock")
            [pool_process] = worker.pool_pids()
            os.kill(pool_process, signal.SIGKILL)
            wait_until(lambda: "WorkerLostError" in worker.output(), "the worker to see it")
        # The lock is gone; the dead process's transaction rolls back, the redelivered
        # message runs in a new pool process.
        wait_until(lambda: Invoice.objects.count() == len(accounts), "the redelivery")
        wait_until_idle()
        log = worker.output()

    received = Counter(re.findall(r"Task (\S+\[[0-9a-f-]{36}\]) received", log))
    [(redelivered, times)] = [(task, n) for task, n in received.items() if n > 1]
    assert times == 2 and not redelivered.startswith(DAILY_TASK), log
    assert f"{redelivered} succeeded" in log, log
    assert "signal 9 (SIGKILL)" in log, log
    for account in accounts:
        invoices = Invoice.objects.filter(account=account)
        assert [(i.period_start, i.issued_on) for i in invoices] == [
            (last_month.replace(day=1), run_date)
        ]
    # The numbers the killed attempt took were given back: the series has no hole.
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{run_date.year}-{n:06d}" for n in range(1, 4)]
    invoice_ids = sorted(Invoice.objects.values_list("pk", flat=True))
    assert sorted(Payment.objects.values_list("invoice_id", flat=True)) == invoice_ids
    # The chunk ticked the day's step off once: completed, each invoice counted once.
    step = CalendarStep.objects.get(run_date=run_date, step="invoice_last_month")
    assert (step.status, step.count) == (StepStatus.COMPLETED, len(accounts))
    assert_books_agree()


def test_run_billing_cycle_twice_for_the_same_day_bills_nothing_twice(november):
    assert "invoice last month: 4" in run_cycle("2026-12-01")
    before = footprint()

    assert "invoice last month: 0" in run_cycle("2026-12-01")
    assert footprint() == before
    assert_books_agree()


def test_the_database_refuses_a_second_monthly_invoice_for_the_same_period_and_kind(november):
    run_month(RUN_DATE)
    first = Invoice.objects.get(account=november["credit"])

    def another(kind, number):
        return Invoice.objects.create(
            account=first.account,
            number=number,
            kind=kind,
            currency=first.currency,
            period_start=first.period_start,
            period_end=first.period_end,
            issued_on=first.issued_on,
            subtotal=first.subtotal,
            rounding=first.rounding,
            total=first.total,
        )

    with pytest.raises(IntegrityError), transaction.atomic():
        another(InvoiceKind.CREDIT, "DUP-1")
    # The constraint covers the monthly kinds only: invoices issued by hand may repeat.
    another(InvoiceKind.MANUAL, "MAN-1")
    another(InvoiceKind.MANUAL, "MAN-2")
    assert Invoice.objects.filter(account=first.account).count() == 3
