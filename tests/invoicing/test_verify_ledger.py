"""`manage.py verify_ledger` checks invoices against their lines and billed entries."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F

from invoicing.models import Invoice, InvoiceLine
from ledger.models import EntryKind
from tests.factories import AccountFactory
from tests.tamper import guards_lifted

from .helpers import at, charge, pay, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoices():
    """Two invoices for November: a JPY one with rounding, a USD one without."""
    jpy = AccountFactory(currency="JPY", payment_mode="credit_limit", credit_limit="10000")
    usd = AccountFactory(payment_mode="postpaid")
    charge(jpy, "100.5", at(2026, 11, 10), description="Calls")
    charge(jpy, "20", at(2026, 11, 11), kind=EntryKind.RENEWAL, description="Plan")
    charge(usd, "7.25", at(2026, 11, 12))
    run_month(date(2026, 12, 1))
    return Invoice.objects.get(account=jpy), Invoice.objects.get(account=usd)


def verify() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_ledger", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_verify_ledger_passes_with_invoices_billed_by_the_run(invoices):
    out, _ = verify()
    assert "Ledger OK: 2 accounts and 2 invoices checked." in out


def _lower_the_total(invoice):
    """The tables' owner can drop the CHECK constraint as well as lift the triggers."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE invoicing_invoice DROP CONSTRAINT invoice_total_is_billed_amount"
        )
    Invoice.objects.filter(pk=invoice.pk).update(total=F("total") - 1)


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (
            lambda inv: InvoiceLine.objects.filter(invoice=inv, kind="usage").update(
                amount=F("amount") + 1
            ),
            "lines add up to -119.5",
        ),
        (
            # The window shrunk to end before the renewal was booked.
            lambda inv: Invoice.objects.filter(pk=inv.pk).update(bills_until=at(2026, 11, 11)),
            "billed entries add up to -101",
        ),
        (
            lambda inv: _lower_the_total(inv),
            "total 120.000000 is not −(subtotal + rounding) rounded",
        ),
    ],
    ids=["line-amount", "window", "total"],
)
def test_verify_ledger_exits_1_and_names_the_tampered_invoice(invoices, tamper, complaint):
    tampered, untouched = invoices
    with guards_lifted("invoicing_invoice", "invoicing_invoiceline"):
        tamper(tampered)

    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("verify_ledger", stdout=StringIO(), stderr=err)

    assert failed.value.returncode == 1  # what `manage.py verify_ledger` exits with
    assert "mismatch(es) in the ledger" in str(failed.value)
    assert f"invoice {tampered.number}: {complaint}" in err.getvalue()
    assert untouched.number not in err.getvalue()


def test_verify_ledger_passes_on_healthy_books_whose_amounts_are_not_binary_fractions():
    """In binary floating point these entries sum to -0.9999999999999929."""
    account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    charge(account, "80.004", at(2026, 11, 10))
    charge(account, "19.99", at(2026, 11, 28))
    run_month(date(2026, 12, 1))
    assert Invoice.objects.get(account=account).total == Decimal("99.99")
    pay(account, "50", at(2026, 12, 5))
    pay(account, "49.99", at(2026, 12, 6))
    charge(account, "1", at(2026, 12, 7))  # Σ entries is -1 exactly; floats say -0.99999…

    out, err = verify()

    assert "Ledger OK" in out
    assert err == ""
