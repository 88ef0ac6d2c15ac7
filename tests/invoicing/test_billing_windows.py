"""Which invoice bills an entry is fixed when the entry is booked (docs/design.md §2, §4).

An invoice bills the window of billing instants from the account's cut-off to its
boundary; the cut-off then moves to the boundary, and the database refuses an entry
booked into a window already invoiced. So no row is written per billed entry, the
entries stay append-only, and a charge racing the monthly run lands on exactly one
invoice: this one, or the next.
"""

import threading
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.selectors import entry_invoice, invoice_entries, invoice_mismatches
from invoicing.services import invoice_cancel, invoice_issue_now, invoicing_bill_accounts
from ledger.models import Balance, Entry, EntryKind
from ledger.selectors import account_figures, ledger_mismatches, unbilled_entries
from ledger.services import ledger_charge
from tests.factories import AccountFactory, staff_user
from tests.tamper import guards_lifted

from .helpers import assert_books_agree, at, charge, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return AccountFactory(payment_mode="credit_limit", credit_limit="1000")


def cutoff(account):
    return Balance.objects.get(account=account).billed_until


def test_an_invoice_bills_the_window_from_the_cutoff_to_its_boundary(account):
    october = charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    first = Invoice.objects.get(account=account)
    assert (first.bills_from, first.bills_until) == (None, at(2026, 11, 1))
    assert cutoff(account) == at(2026, 11, 1)

    november = charge(account, "6", at(2026, 11, 20))
    run_month(date(2026, 12, 1))
    second = Invoice.objects.get(account=account, period_start=date(2026, 11, 1))

    assert (second.bills_from, second.bills_until) == (at(2026, 11, 1), at(2026, 12, 1))
    assert entry_invoice(october) == first and entry_invoice(november) == second
    assert list(invoice_entries(second)) == [november]
    assert cutoff(account) == at(2026, 12, 1)
    assert_books_agree()


def test_arrears_booked_after_their_months_invoice_go_to_the_next_one(account):
    charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    with time_machine.travel(at(2026, 11, 3, 9), tick=False):
        late = ledger_charge(
            account_id=account.pk,
            amount="9",
            idempotency_key="late-october",
            kind=EntryKind.RENEWAL,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
        ).entry

    # October's window is invoiced, so the late fee opens November's at its cut-off.
    assert late.bill_at == at(2026, 11, 1)
    assert entry_invoice(late) is None
    assert list(unbilled_entries(account.pk)) == [late]
    run_month(date(2026, 12, 1))
    assert entry_invoice(late).period_start == date(2026, 11, 1)
    assert_books_agree()


def test_arrears_booked_before_the_run_stay_in_their_service_month(account):
    """Renewals run before invoicing on the 1st: a fee for October booked then is
    October's, though booked in November."""
    with time_machine.travel(at(2026, 11, 1, 0, 1), tick=False):
        fee = ledger_charge(
            account_id=account.pk,
            amount="9",
            idempotency_key="arrears",
            kind=EntryKind.RENEWAL,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
        ).entry
    assert fee.bill_at == at(2026, 10, 31, 23, 59, 59, 999999)
    run_month(date(2026, 11, 1))
    assert entry_invoice(fee).period_start == date(2026, 10, 1)


def test_the_database_refuses_an_entry_booked_into_an_invoiced_window(account):
    charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    with pytest.raises(IntegrityError, match="cut-off"), transaction.atomic():
        Entry.objects.create(
            account=account,
            amount=Decimal("-1"),
            kind=EntryKind.CHARGE,
            idempotency_key="back-dated",
            bill_at=at(2026, 10, 31),
        )
    assert not Entry.objects.filter(idempotency_key="back-dated").exists()
    assert_books_agree()


def test_the_database_lets_an_entry_booked_for_an_invoice_by_name_into_its_window(account):
    charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    Entry.objects.create(
        account=account,
        amount=Decimal("1"),
        kind=EntryKind.ADJUSTMENT,
        idempotency_key="named",
        invoice=invoice,
        bill_at=at(2026, 10, 31),
    )
    assert entry_invoice(Entry.objects.get(idempotency_key="named")) == invoice


def test_the_database_refuses_to_move_a_cutoff_back(account):
    charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    for earlier in (at(2026, 10, 15), None):
        with pytest.raises(IntegrityError, match="cut-off"), transaction.atomic():
            Balance.objects.filter(account=account).update(billed_until=earlier)
    assert cutoff(account) == at(2026, 11, 1)


def test_an_invoice_issued_by_hand_moves_the_cutoff_and_the_month_bills_the_rest(account):
    charge(account, "4", at(2026, 11, 5))
    with time_machine.travel(at(2026, 11, 10, 12), tick=False):
        by_hand = invoice_issue_now(account_id=account.pk, issued_by=staff_user("Billing staff"))
    after = charge(account, "6", at(2026, 11, 20))

    run_month(date(2026, 12, 1))

    monthly = Invoice.objects.get(account=account, period_start=date(2026, 11, 1), kind="credit")
    assert monthly.bills_from == by_hand.bills_until
    assert list(invoice_entries(monthly)) == [after]
    assert by_hand.total == Decimal("4.00") and monthly.total == Decimal("6.00")
    assert_books_agree()


def test_a_cancellation_reversal_is_billed_on_the_cancelled_invoice(account):
    charge(account, "4.005", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    with time_machine.travel(at(2026, 11, 2), tick=False):
        invoice_cancel(
            invoice_id=invoice.pk, reason="Billed twice.", cancelled_by=staff_user("Managers")
        )
    reversal = Entry.objects.get(idempotency_key=f"invoice:{invoice.pk}:cancel")
    assert entry_invoice(reversal) == invoice
    assert account_figures(account.pk).unbilled == 0
    assert list(unbilled_entries(account.pk)) == []
    assert_books_agree()


def test_verify_ledger_names_an_invoice_whose_window_leaves_a_gap(account):
    charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    charge(account, "6", at(2026, 11, 20))
    run_month(date(2026, 12, 1))
    second = Invoice.objects.get(account=account, period_start=date(2026, 11, 1))
    with guards_lifted("invoicing_invoice"):
        Invoice.objects.filter(pk=second.pk).update(bills_from=at(2026, 11, 2))

    problems = [str(m) for m in invoice_mismatches()]

    assert any(second.number in p and "previous one ended" in p for p in problems), problems


@pytest.mark.django_db(transaction=True)
def test_charges_racing_the_monthly_run_land_on_exactly_one_invoice():
    """Threads charge while the run bills the same accounts: each charge is either on
    the invoice (committed before the run locked the account) or after the cut-off."""
    run_date = date(2026, 12, 1)
    with time_machine.travel(at(2026, 11, 28, 12)):
        accounts = [
            AccountFactory(payment_mode="credit_limit", credit_limit="100000") for _ in range(6)
        ]
        for a in accounts:
            for n in range(3):
                ledger_charge(account_id=a.pk, amount="1.000001", idempotency_key=f"pre-{n}")
    ids = [a.pk for a in accounts]
    stop = threading.Event()
    errors: list[BaseException] = []

    def charger(n):
        try:
            k = 0
            while not stop.is_set():
                ledger_charge(
                    account_id=ids[k % len(ids)], amount="0.010001", idempotency_key=f"t{n}-{k}"
                )
                k += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # The threads charge from just before midnight; the run starts just after it, while
    # they go on, so charges meet it before, during and after it locks the accounts.
    with time_machine.travel(at(2026, 11, 30, 23, 59, 59, 800000)):
        threads = [threading.Thread(target=charger, args=(n,), daemon=True) for n in range(4)]
        for thread in threads:
            thread.start()
        while timezone.now() < at(2026, 12, 1, 0, 0, 0, 50000):
            pass
        result = invoicing_bill_accounts(account_ids=ids, run_date=run_date)
        while timezone.now() < at(2026, 12, 1, 0, 0, 0, 300000):
            pass
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert result.invoices == len(ids)
    boundary = at(2026, 12, 1)
    before = after = 0
    for a in accounts:
        invoice = Invoice.objects.get(account=a)
        billed = list(invoice_entries(invoice).filter(kind="charge"))
        waiting = list(unbilled_entries(a.pk))
        charges = set(Entry.objects.filter(account=a, kind="charge").values_list("id", flat=True))
        assert {e.pk for e in billed} | {e.pk for e in waiting} == charges
        assert not {e.pk for e in billed} & {e.pk for e in waiting}
        assert all(e.bill_at < boundary for e in billed)
        assert all(e.bill_at >= boundary for e in waiting)
        assert invoice.subtotal == sum(e.amount for e in billed)
        before += len(billed) - 3
        after += len(waiting)
    assert before > 0 and after > 0, "the threads did not race the run"
    assert list(ledger_mismatches()) == []
    assert list(invoice_mismatches()) == []


def test_the_database_refuses_an_entry_booked_for_another_accounts_invoice(account):
    charge(account, "4", at(2026, 10, 20))
    run_month(date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    other = AccountFactory(payment_mode="postpaid")
    with pytest.raises(IntegrityError, match="account"), transaction.atomic():
        Entry.objects.create(
            account=other,
            amount=Decimal("1"),
            kind=EntryKind.ADJUSTMENT,
            idempotency_key="foreign",
            invoice=invoice,
            bill_at=at(2026, 11, 2),
        )
    assert not Entry.objects.filter(idempotency_key="foreign").exists()
