"""The monthly run bills each account once per period, however often it is started."""

from datetime import date

import pytest
import time_machine
from django.db import IntegrityError, transaction

from accounts.services import account_convert_mode
from invoicing.models import Invoice, InvoiceKind, InvoiceStatus
from invoicing.services import invoicing_accounts_due, invoicing_bill_accounts
from invoicing.tasks import bill_accounts
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, footprint, pay, run_cycle, run_month

pytestmark = pytest.mark.django_db

RUN_DATE = date(2026, 12, 1)


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
    # the Celery task the beat fans out, delivered twice (acks_late redelivery)
    assert bill_accounts.delay(chunk, RUN_DATE.isoformat()).get() == 0
    assert bill_accounts.delay(chunk, RUN_DATE.isoformat()).get() == 0
    assert footprint() == before
    assert invoicing_accounts_due(run_date=RUN_DATE) == [november["in_debt"].pk]


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
            total=first.total,
        )

    with pytest.raises(IntegrityError), transaction.atomic():
        another(InvoiceKind.CREDIT, "DUP-1")
    # The constraint covers the monthly kinds only: invoices issued by hand may repeat.
    another(InvoiceKind.MANUAL, "MAN-1")
    another(InvoiceKind.MANUAL, "MAN-2")
    assert Invoice.objects.filter(account=first.account).count() == 3
