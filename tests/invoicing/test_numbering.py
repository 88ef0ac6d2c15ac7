"""Invoice numbers: one gapless series per year, taken under the series row's lock."""

import threading
from collections.abc import Callable
from datetime import date

import pytest
import time_machine
from django.db import connection

from invoicing.models import Invoice, InvoiceSeries
from invoicing.services import (
    invoice_cancel,
    invoice_issue_now,
    invoicing_accounts_due,
    invoicing_bill_accounts,
)
from invoicing.services.issue import chunks
from tests.factories import AccountFactory, staff_user

from .helpers import assert_books_agree, at, charge, run_month

JOIN_TIMEOUT = 60


def numbers(year: int) -> list[str]:
    return sorted(Invoice.objects.filter(issued_on__year=year).values_list("number", flat=True))


def series(year: int, count: int) -> list[str]:
    return [f"INV-{year}-{n:06d}" for n in range(1, count + 1)]


@pytest.mark.django_db
def test_numbers_follow_issue_order_without_gaps_and_restart_each_year():
    accounts = [AccountFactory(payment_mode="postpaid") for _ in range(3)]
    for account in accounts:
        charge(account, "5", at(2026, 11, 10))

    run_month(date(2026, 12, 1))
    assert [Invoice.objects.get(account=a).number for a in accounts] == series(2026, 3)

    charge(accounts[0], "1", at(2026, 12, 9))
    with time_machine.travel(at(2026, 12, 10)):
        manual = invoice_issue_now(account_id=accounts[0].pk)
        invoice_cancel(invoice_id=manual.pk, reason="Test", cancelled_by=staff_user("Managers"))
    assert manual.number == "INV-2026-000004"  # voiding keeps the number: no reuse, no gap

    charge(accounts[1], "2", at(2026, 12, 31, 23))
    charge(accounts[2], "2", at(2026, 12, 31, 23))
    run_month(date(2027, 1, 1))

    assert numbers(2026) == series(2026, 4)
    assert numbers(2027) == series(2027, 2)
    assert dict(InvoiceSeries.objects.values_list("year", "next_number")) == {2026: 5, 2027: 3}


def run_in_threads(work: list[Callable[[], object]]) -> list:
    """Start every callable at once on its own connection; re-raise the first error."""
    start = threading.Barrier(len(work))
    results: list = [None] * len(work)
    errors: list[BaseException] = []

    def runner(n):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            results[n] = work[n]()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(n,), daemon=True) for n in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


@pytest.mark.django_db(transaction=True)
@time_machine.travel(at(2026, 12, 1, 0, 5))  # the run on its billing day
def test_workers_billing_chunks_at_once_share_one_gapless_series():
    run_date = date(2026, 12, 1)
    accounts = [AccountFactory(payment_mode="credit_limit", credit_limit="100") for _ in range(24)]
    for n, account in enumerate(accounts):
        charge(account, f"{n + 1}.5", at(2026, 11, 10))
    by_hand = AccountFactory(payment_mode="postpaid")
    charge(by_hand, "3", at(2026, 11, 10))
    parts = chunks([a.pk for a in accounts], 6)

    def bill(part):
        return lambda: invoicing_bill_accounts(account_ids=part, run_date=run_date).invoices

    results = run_in_threads(
        [*(bill(part) for part in parts), lambda: invoice_issue_now(account_id=by_hand.pk)]
    )

    assert sum(results[:-1]) == 24
    assert numbers(2026) == series(2026, 25)
    assert_books_agree()


@pytest.mark.django_db(transaction=True)
@time_machine.travel(at(2026, 12, 1, 0, 5))  # the run on its billing day
def test_one_chunk_billed_by_two_workers_at_once_is_billed_once():
    """A double beat firing delivered to two workers at the same moment."""
    run_date = date(2026, 12, 1)
    for n in range(10):
        account = AccountFactory(payment_mode="postpaid")
        charge(account, f"{n + 1}.25", at(2026, 11, 10))
    chunk = invoicing_accounts_due(run_date=run_date)

    def bill():
        return invoicing_bill_accounts(account_ids=chunk, run_date=run_date).invoices

    assert sorted(run_in_threads([bill, bill, bill])) == [0, 0, 10]
    assert Invoice.objects.count() == 10
    assert numbers(2026) == series(2026, 10)
    assert_books_agree()
