"""Invoice totals to the last digit: half-up to the currency's minor unit, the difference
booked as a rounding entry, so the ledger and the invoices always agree (docs/design.md §2)."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from invoicing.selectors import entry_invoice, invoice_entries
from ledger.models import Balance, Entry, EntryKind
from ledger.selectors import account_figures
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, run_month

pytestmark = pytest.mark.django_db

RUN_DATE = date(2026, 12, 1)


def invoice_month(currency: str, amounts: list[str], mode: str = "credit_limit"):
    extra = {"credit_limit": "100000"} if mode == "credit_limit" else {}
    account = AccountFactory(currency=currency, payment_mode=mode, **extra)
    for n, amount in enumerate(amounts):
        charge(account, amount, at(2026, 11, 2 + n, 10), key=f"c{n}")
    run_month(RUN_DATE)
    return account, Invoice.objects.get(account=account)


@pytest.mark.parametrize(
    ("currency", "amounts", "total", "rounding"),
    [
        ("USD", ["1", "0.666665"], "1.67", "-0.003335"),
        ("USD", ["0.125"], "0.13", "-0.005"),  # a tie rounds up, away from zero
        ("USD", ["0.124999"], "0.12", "0.004999"),
        ("JPY", ["100.5"], "101", "-0.5"),  # no minor unit
        ("JPY", ["60.25", "40.2"], "100", "0.45"),
        ("BHD", ["1.2345"], "1.235", "-0.0005"),  # three places
        ("BHD", ["0.0004"], "0", "0.0004"),  # rounds to nothing
        ("EUR", ["2.5", "7.25"], "9.75", "0"),  # already exact: no rounding entry
    ],
)
def test_total_rounds_half_up_to_the_minor_unit_and_the_difference_is_booked(
    currency, amounts, total, rounding
):
    account, invoice = invoice_month(currency, amounts)

    subtotal = -sum(Decimal(a) for a in amounts)
    assert (invoice.subtotal, invoice.total, invoice.rounding) == (
        subtotal,
        Decimal(total),
        Decimal(rounding),
    )
    booked = list(Entry.objects.filter(account=account, kind=EntryKind.ROUNDING))
    if Decimal(rounding):
        assert [e.amount for e in booked] == [Decimal(rounding)]
        assert entry_invoice(booked[0]) == invoice
    else:
        assert booked == []
    # balance row == Σ entries, and nothing else happened, so the balance is −total
    amounts_booked = Entry.objects.filter(account=account).values_list("amount", flat=True)
    row = Balance.objects.get(account=account)
    assert row.balance == sum(amounts_booked) == -Decimal(total)
    assert row.entry_count == len(amounts) + len(booked)
    figures = account_figures(account.pk)
    assert (figures.unbilled, figures.amount_due) == (0, -Decimal(total))
    assert_books_agree()


def test_lines_sum_the_billed_entries_by_kind_and_description():
    account = AccountFactory(payment_mode="postpaid")
    charge(account, "0.015", at(2026, 11, 2), key="u1", description="Calls")
    charge(account, "29", at(2026, 11, 3), key="r1", kind=EntryKind.RENEWAL, description="Plan")
    charge(account, "0.02", at(2026, 11, 4), key="u2", description="Calls")
    charge(account, "1.5", at(2026, 11, 5), key="u3", description="SMS")
    charge(account, "0.005", at(2026, 11, 6), key="u4", description="Calls")

    run_month(RUN_DATE)

    invoice = Invoice.objects.get(account=account)
    lines = list(invoice.lines.values_list("kind", "description", "quantity", "amount"))
    assert lines == [
        ("usage", "Calls", 3, Decimal("-0.04")),
        ("renewal", "Plan", 1, Decimal("-29")),
        ("usage", "SMS", 1, Decimal("-1.5")),
    ]
    assert sum(line[3] for line in lines) == invoice.subtotal == Decimal("-30.54")
    assert invoice.total == Decimal("30.54")
    assert invoice_entries(invoice).count() == 5  # exact: no rounding


@pytest.mark.parametrize(("count", "amount"), [(31, "0.03"), (100, "0.07")])
def test_many_small_charges_adding_up_to_whole_cents_book_no_rounding_entry(count, amount):
    """31 × 0.03 is 0.930000000000001 in binary floating point: the run must bill
    exactly 0.93 and book no rounding of ~1e-15."""
    account = AccountFactory(payment_mode="postpaid")
    for n in range(count):
        charge(account, amount, at(2026, 11, 1 + n % 30, 10, n % 60, n // 60), key=f"c{n}")

    run_month(RUN_DATE)

    invoice = Invoice.objects.get(account=account)
    assert invoice.total == Decimal(amount) * count
    assert not Entry.objects.filter(account=account, kind=EntryKind.ROUNDING).exists()
    assert_books_agree()
