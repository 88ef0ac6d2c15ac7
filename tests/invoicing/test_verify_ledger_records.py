"""`manage.py verify_ledger` checks the invoices' numbers and statuses too: each year's
numbers form one gapless series with no duplicates, and each invoice's status agrees
with its status log and its payment.

The database refuses these changes from the application (tests/invoicing/
test_issued_invoice_guard.py); here the tables' owner makes them with the guards
lifted, as someone who could would."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from invoicing.models import Invoice, InvoiceStatusChange, Payment
from tests.factories import AccountFactory
from tests.tamper import guards_lifted

from .helpers import at, charge, pay, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoices():
    """Three December invoices, numbered 1, 2, 3 of 2026: approved, approved, paid."""
    accounts = [
        AccountFactory(payment_mode="credit_limit", credit_limit="1000"),
        AccountFactory(payment_mode="credit_limit", credit_limit="1000"),
        AccountFactory(payment_mode="credit_limit", credit_limit="1000"),
    ]
    for account in accounts:
        charge(account, "10", at(2026, 11, 10))
    pay(accounts[2], "10", at(2026, 11, 20))
    run_month(date(2026, 12, 1))
    found = list(Invoice.objects.order_by("number"))
    assert [(i.number, i.status) for i in found] == [
        ("INV-2026-000001", "approved"),
        ("INV-2026-000002", "approved"),
        ("INV-2026-000003", "paid"),
    ]
    return found


def verify_fails() -> str:
    err = StringIO()
    with pytest.raises(CommandError, match="mismatch"):
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    return err.getvalue()


def _sql(statement, params):
    with guards_lifted("invoicing_invoice", "invoicing_invoiceseries") as cursor:
        cursor.execute(statement, params)


def test_the_healthy_books_pass():
    account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    charge(account, "10", at(2026, 11, 10))
    run_month(date(2026, 12, 1))
    out = StringIO()
    call_command("verify_ledger", stdout=out, stderr=StringIO())
    assert "Ledger OK" in out.getvalue()


def test_a_renumbered_invoice_leaves_a_gap(invoices):
    _sql("UPDATE invoicing_invoice SET number = 'INV-2026-000007' WHERE id = %s", [invoices[1].pk])

    err = verify_fails()

    assert "invoice series 2026: number(s) 2, 4, 5, 6 missing: the series has a gap" in err
    assert "invoice series 2026: the series is at 4, the highest number is 7" in err


def test_a_number_used_twice_is_named(invoices):
    _sql("UPDATE invoicing_invoice SET number = 'INV-2026-01' WHERE id = %s", [invoices[1].pk])

    err = verify_fails()

    assert "invoice INV-2026-01: the number is not from the series of its issue date" in err
    assert (
        "invoice series 2026: number 1 is used more than once (INV-2026-000001, INV-2026-01)"
        in (err)
    )
    assert "number(s) 2 missing" in err


def test_a_number_from_another_years_series_is_named(invoices):
    _sql("UPDATE invoicing_invoice SET number = 'INV-2025-000001' WHERE id = %s", [invoices[2].pk])

    err = verify_fails()

    assert "invoice INV-2025-000001: the number is not from the series of its issue date" in err
    assert "invoice series 2025: numbers were issued without a series row" in err
    assert "invoice series 2026: the series is at 4, the highest number is 2" in err


def test_a_series_row_moved_back_is_named(invoices):
    _sql("UPDATE invoicing_invoiceseries SET next_number = 2 WHERE year = %s", [2026])

    assert "invoice series 2026: the series is at 2, the highest number is 3" in verify_fails()


def test_a_status_its_log_does_not_record_is_named(invoices):
    first = invoices[0]
    _sql("UPDATE invoicing_invoice SET status = 'overdue' WHERE id = %s", [first.pk])

    err = verify_fails()

    assert f"invoice {first.number}: status overdue, but its log's last move is to approved" in err
    assert invoices[1].number not in err


def test_an_invoice_with_no_log_is_named(invoices):
    InvoiceStatusChange.objects.filter(invoice=invoices[0]).delete()

    assert f"invoice {invoices[0].number}: status approved, but its log is empty" in verify_fails()


def test_a_status_its_payment_contradicts_is_named(invoices):
    first, second = invoices[0], invoices[1]
    # Marked paid (and logged so) with no money applied and its payment still waiting.
    _sql("UPDATE invoicing_invoice SET status = 'paid', paid_at = now() WHERE id = %s", [first.pk])
    InvoiceStatusChange.objects.create(invoice=first, from_status="approved", to_status="paid")
    # Its payment completed behind its back.
    with guards_lifted("invoicing_payment"):
        Payment.objects.filter(invoice=second).update(status="completed")

    err = verify_fails()

    assert f"invoice {first.number}: paid with 0.000000 of its total 10.000000 applied" in err
    assert f"invoice {first.number}: paid, but its payment is still waiting" in err
    assert f"invoice {second.number}: its payment is completed, the invoice is approved" in err
    assert f"invoice {second.number}: its payment is completed, but its log is empty" in err
