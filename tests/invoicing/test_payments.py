"""Money received pays the oldest unpaid invoices first; an overpayment pays later ones."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from accounts.services import account_convert_mode
from invoicing.models import Invoice, InvoiceStatus, Payment, PaymentAllocation, PaymentStatus
from ledger.selectors import account_figures
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, pay, reload, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit_account():
    return AccountFactory(payment_mode="credit_limit", credit_limit="1000")


def allocations(invoice):
    return list(PaymentAllocation.objects.filter(invoice=invoice).values_list("amount", flat=True))


def payment_status(invoice):
    return Payment.objects.get(invoice=invoice).status


def test_money_pays_the_oldest_invoice_first_then_the_next(credit_account):
    charge(credit_account, "40", at(2026, 10, 5, 10))
    run_month(date(2026, 11, 1))
    charge(credit_account, "60", at(2026, 11, 5, 10))
    run_month(date(2026, 12, 1))
    november = Invoice.objects.get(account=credit_account, period_start=date(2026, 10, 1))
    december = Invoice.objects.get(account=credit_account, period_start=date(2026, 11, 1))
    assert account_figures(credit_account.pk).amount_due == Decimal("-100")

    pay(credit_account, "70", at(2026, 12, 3, 9))  # the first, and half the second

    november, december = reload(november), reload(december)
    assert (november.status, november.amount_paid) == (InvoiceStatus.PAID, Decimal("40"))
    assert (december.status, december.amount_paid) == (InvoiceStatus.APPROVED, Decimal("30"))
    assert december.outstanding == Decimal("30")
    assert (payment_status(november), payment_status(december)) == (
        "completed",
        "waiting_for_payment",
    )
    assert (allocations(november), allocations(december)) == ([Decimal("40")], [Decimal("30")])

    pay(credit_account, "30", at(2026, 12, 4, 9))  # the rest

    december = reload(december)
    assert (december.status, december.amount_paid) == (InvoiceStatus.PAID, Decimal("60"))
    assert payment_status(december) == PaymentStatus.COMPLETED
    assert allocations(december) == [Decimal("30"), Decimal("30")]
    assert account_figures(credit_account.pk).amount_due == 0
    assert_books_agree()


def test_oldest_means_issued_first_not_due_first():
    """An older postpaid invoice (no due date) is paid before a newer one that is due."""
    account = AccountFactory(payment_mode="postpaid")
    charge(account, "10", at(2026, 10, 5))
    run_month(date(2026, 11, 1))
    with time_machine.travel(at(2026, 11, 2)):
        account_convert_mode(
            account_id=account.pk,
            payment_mode="credit_limit",
            credit_limit="500",
            reason="Credit granted",
        )
    charge(account, "20", at(2026, 11, 5))
    run_month(date(2026, 12, 1))
    older, newer = Invoice.objects.filter(account=account).order_by("issued_on")
    assert (older.due_date, newer.due_date) == (None, date(2026, 12, 15))

    pay(account, "10", at(2026, 12, 2))

    assert reload(older).status == InvoiceStatus.PAID
    assert reload(newer).amount_paid == 0


def test_an_overpayment_pays_the_invoice_the_moment_it_is_issued(credit_account):
    pay(credit_account, "100", at(2026, 11, 2, 9))  # paid in before anything was billed
    charge(credit_account, "30.25", at(2026, 11, 10, 10))
    assert account_figures(credit_account.pk).amount_due == Decimal("100")

    run_month(date(2026, 12, 1))

    invoice = Invoice.objects.get(account=credit_account)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, Decimal("30.25"))
    assert payment_status(invoice) == PaymentStatus.COMPLETED
    assert allocations(invoice) == [Decimal("30.25")]
    assert account_figures(credit_account.pk).amount_due == Decimal("69.75")  # still ahead

    charge(credit_account, "90", at(2026, 12, 10, 10))
    run_month(date(2027, 1, 1))

    january = Invoice.objects.get(account=credit_account, issued_on=date(2027, 1, 1))
    assert (january.status, january.amount_paid) == (InvoiceStatus.APPROVED, Decimal("69.75"))
    assert january.outstanding == Decimal("20.25")
    assert account_figures(credit_account.pk).amount_due == Decimal("-20.25")
    assert_books_agree()


def test_after_invoicing_unbilled_is_zero_and_amount_due_is_minus_the_total(credit_account):
    charge(credit_account, "12.5", at(2026, 11, 3))
    charge(credit_account, "7.25", at(2026, 11, 30, 23))
    before = account_figures(credit_account.pk)
    assert (before.balance, before.unbilled, before.amount_due) == (
        Decimal("-19.75"),
        Decimal("-19.75"),
        0,
    )

    run_month(date(2026, 12, 1))

    total = Invoice.objects.get(account=credit_account).total
    after = account_figures(credit_account.pk)
    assert (after.balance, after.unbilled, after.amount_due) == (-total, 0, -total)


def test_unbilled_keeps_what_came_after_the_boundary_and_drops_what_was_billed(
    credit_account,
):
    charge(credit_account, "10", at(2026, 11, 20))
    charge(credit_account, "2.5", at(2026, 12, 1, 0, 0, 0))
    charge(credit_account, "1.25", at(2026, 12, 1, 0, 3))  # before the run at 00:05

    run_month(date(2026, 12, 1))

    figures = account_figures(credit_account.pk)
    assert figures.unbilled == Decimal("-3.75")
    assert figures.amount_due == Decimal("-10")
    assert figures.balance == figures.unbilled + figures.amount_due
    assert_books_agree()
