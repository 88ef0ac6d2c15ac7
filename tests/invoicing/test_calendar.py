"""Which charges land in which monthly invoice: month lengths, year end, the midnight edge."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from billing_site.exceptions import InvalidInput
from invoicing.models import Invoice, InvoiceKind, InvoiceSeries, InvoiceStatus
from invoicing.selectors import entry_invoice, invoice_entries
from ledger.selectors import account_figures
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, footprint, run_cycle, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit_account():
    return AccountFactory(payment_mode="credit_limit", credit_limit="1000")


def billed_entry_ids(invoice):
    return set(invoice_entries(invoice).filter(kind="usage").values_list("id", flat=True))


def test_a_31_day_month_is_billed_from_its_first_to_its_last_day(credit_account):
    first = charge(credit_account, "10", at(2027, 1, 1, 0, 0, 0))
    last = charge(credit_account, "20", at(2027, 1, 31, 23, 59, 59))
    february = charge(credit_account, "5", at(2027, 2, 1, 0, 0, 1))

    assert run_month(date(2027, 2, 1)).invoices == 1

    invoice = Invoice.objects.get(account=credit_account)
    assert (invoice.period_start, invoice.period_end) == (date(2027, 1, 1), date(2027, 1, 31))
    assert invoice.issued_on == date(2027, 2, 1)
    assert billed_entry_ids(invoice) == {first.pk, last.pk}
    assert invoice.total == Decimal("30.00")
    assert entry_invoice(february) is None
    assert_books_agree()


@pytest.mark.parametrize(
    ("last_day", "run_date"),
    [(date(2028, 2, 29), date(2028, 3, 1)), (date(2027, 2, 28), date(2027, 3, 1))],
    ids=["leap-year", "common-year"],
)
def test_february_ends_on_its_real_last_day(credit_account, last_day, run_date):
    on_last_day = charge(credit_account, "7", at(last_day.year, 2, last_day.day, 18))
    march = charge(credit_account, "3", at(run_date.year, 3, 1, 0, 0, 0))

    run_month(run_date)

    invoice = Invoice.objects.get(account=credit_account)
    assert (invoice.period_start, invoice.period_end) == (last_day.replace(day=1), last_day)
    assert billed_entry_ids(invoice) == {on_last_day.pk}
    assert entry_invoice(march) is None


def test_december_is_billed_in_january_with_the_new_years_number_series(credit_account):
    other = AccountFactory(payment_mode="postpaid")
    charge(other, "4", at(2026, 11, 10, 12))
    run_month(date(2026, 12, 1))  # takes INV-2026-000001
    charge(credit_account, "15", at(2026, 12, 1, 9))
    charge(credit_account, "25", at(2026, 12, 31, 23, 59))

    run_month(date(2027, 1, 1))

    invoice = Invoice.objects.get(account=credit_account)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 12, 1), date(2026, 12, 31))
    assert invoice.issued_on == date(2027, 1, 1)
    assert invoice.number == "INV-2027-000001"
    assert invoice.due_date == date(2027, 1, 15)
    assert dict(InvoiceSeries.objects.values_list("year", "next_number")) == {2026: 2, 2027: 2}


def test_the_last_microsecond_of_the_month_is_billed_and_midnight_waits_for_next_month(
    credit_account,
):
    last_instant = charge(credit_account, "1.5", at(2026, 11, 30, 23, 59, 59, 999999))
    midnight = charge(credit_account, "2.25", at(2026, 12, 1, 0, 0, 0))

    run_month(date(2026, 12, 1))

    invoice = Invoice.objects.get(account=credit_account)
    assert billed_entry_ids(invoice) == {last_instant.pk}
    assert invoice.subtotal == Decimal("-1.5")
    assert entry_invoice(midnight) is None
    figures = account_figures(credit_account.pk)
    assert figures.unbilled == Decimal("-2.25")
    assert figures.amount_due == Decimal("-1.50")

    run_month(date(2027, 1, 1))
    december = Invoice.objects.get(account=credit_account, period_start=date(2026, 12, 1))
    assert billed_entry_ids(december) == {midnight.pk}
    assert account_figures(credit_account.pk).unbilled == 0
    assert_books_agree()


def test_a_run_on_the_2nd_catches_up_a_missed_1st_and_the_3rd_finds_nothing_left(
    credit_account,
):
    postpaid = AccountFactory(payment_mode="postpaid")
    charge(credit_account, "40", at(2026, 11, 3, 10))
    charge(postpaid, "9.99", at(2026, 11, 29, 22))
    december = charge(credit_account, "1", at(2026, 12, 1, 8))

    out = run_cycle("2026-12-02")

    assert "invoice last month: 2" in out
    invoices = {i.account_id: i for i in Invoice.objects.all()}
    credit, post = invoices[credit_account.pk], invoices[postpaid.pk]
    assert (credit.kind, credit.status) == (InvoiceKind.CREDIT, InvoiceStatus.APPROVED)
    assert (credit.period_start, credit.period_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert credit.issued_on == date(2026, 12, 2)
    assert credit.due_date == date(2026, 12, 16)
    assert post.kind == InvoiceKind.POSTPAID
    assert entry_invoice(december) is None

    before = footprint()
    out = run_cycle("2026-12-03")
    assert "invoice last month: 0" in out
    assert footprint() == before


def test_a_run_dated_after_today_is_refused_and_bills_nothing(credit_account):
    charge(credit_account, "10", at(2026, 11, 10))
    with time_machine.travel(at(2026, 11, 22, 9)):
        with pytest.raises((CommandError, InvalidInput)):
            call_command("run_billing_cycle", "--date", "2026-12-01", stdout=StringIO())
        assert not Invoice.objects.exists()
    # What the early run would do: the charge of the 25th misses November's invoice.
    charge(credit_account, "5", at(2026, 11, 25))
    run_month(date(2026, 12, 1))
    assert Invoice.objects.get(account=credit_account).total == Decimal("15.00")
