"""A monthly run that dies halfway is finished by the next run, as if it had never failed.

Each chunk commits on its own: a crash inside a chunk rolls back everything that chunk
wrote (numbers taken included), and the next run bills exactly what is left.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from accounts.services import account_convert_mode
from invoicing.models import Invoice, InvoiceSeries
from invoicing.selectors import invoice_entries
from invoicing.services import (
    invoicing_accounts_due,
    invoicing_bill_accounts,
    invoicing_run_month,
)
from invoicing.services import issue as issue_module
from invoicing.services.issue import chunks
from ledger.models import Balance
from tests.factories import AccountFactory

from .helpers import assert_books_agree, at, charge, footprint, pay, run_month

RUN_DATE = date(2026, 12, 1)
# Six kinds of account in turn, so every chunk of five holds invoices of several kinds.
KINDS = ("credit", "postpaid", "prepaid", "credit_paid_ahead", "credit_monthly", "prepaid_in_debt")
CURRENCIES = ("USD", "EUR", "JPY", "BHD")


class Crash(Exception):
    """A worker dying in the middle of a chunk."""


def build_accounts(count: int, prefix: str) -> list[int]:
    """`count` accounts of mixed modes and currencies with November charges; the same
    figures for the same `n` whatever the prefix, so two datasets can be compared."""
    ids = []
    for n in range(count):
        kind, currency = KINDS[n % len(KINDS)], CURRENCIES[n % len(CURRENCIES)]
        with time_machine.travel(at(2026, 11, 1, 8)):
            if kind.startswith("credit"):
                account = AccountFactory(
                    name=f"{prefix}{n}",
                    currency=currency,
                    payment_mode="credit_limit",
                    credit_limit="10000",
                    credit_limit_scope="monthly_unbilled"
                    if kind == "credit_monthly"
                    else "total_debt",
                )
            elif kind == "prepaid":
                account = AccountFactory(name=f"{prefix}{n}", currency=currency, funds="5000")
            else:
                account = AccountFactory(
                    name=f"{prefix}{n}", currency=currency, payment_mode="postpaid"
                )
        if kind == "credit_paid_ahead":
            pay(account, "3000", at(2026, 11, 2, 9), key="ahead")
        for k in range(1 + n % 3):
            amount = (Decimal("1.234567") * (n + 1) + k).quantize(Decimal("0.000001"))
            charge(
                account,
                amount,
                at(2026, 11, 3 + k, 10, n),
                key=f"c{k}",
                description=f"Line {k % 2}",
            )
        if kind == "prepaid_in_debt":
            with time_machine.travel(at(2026, 11, 20)):
                account_convert_mode(
                    account_id=account.pk, payment_mode="prepaid", reason="Postpaid switched off"
                )
        ids.append(account.pk)
    return ids


def outcome(account_id: int):
    """What the run produced for one account, free of ids and numbers."""
    invoice = Invoice.objects.filter(account_id=account_id).first()
    if invoice is None:
        return None
    return (
        invoice.kind,
        invoice.status,
        invoice.currency,
        invoice.period_start,
        invoice.period_end,
        invoice.due_date,
        invoice.subtotal,
        invoice.rounding,
        invoice.total,
        invoice.amount_paid,
        tuple(invoice.lines.values_list("kind", "description", "quantity", "amount")),
        invoice_entries(invoice).count(),
    )


def assert_numbers_gapless(year: int) -> None:
    numbers = sorted(
        Invoice.objects.filter(number__startswith=f"INV-{year}-").values_list("number", flat=True)
    )
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, len(numbers) + 1)]
    assert InvoiceSeries.objects.get(year=year).next_number == len(numbers) + 1


def crash_on_call(monkeypatch, name: str, call: int, *, after: bool):
    """Make `issue.<name>` raise on its `call`-th call (after doing its work, if `after`)."""
    real = getattr(issue_module, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call and not after:
            raise Crash(f"{name} call {call}")
        result = real(*args, **kwargs)
        if calls["n"] == call:
            raise Crash(f"{name} call {call}")
        return result

    monkeypatch.setattr(issue_module, name, flaky)


@pytest.mark.django_db(transaction=True)
@time_machine.travel(at(2026, 12, 1, 0, 5))  # the run on its billing day
def test_a_run_interrupted_between_and_inside_chunks_finishes_like_an_uninterrupted_one(
    monkeypatch,
):
    interrupted = build_accounts(30, "a")
    reference = build_accounts(30, "b")
    parts = chunks([i for i in invoicing_accounts_due(run_date=RUN_DATE) if i in interrupted], 5)
    assert len(parts) == 6

    # Chunks 1-3 commit; chunk 4 dies right after taking its invoice numbers; chunk 5
    # dies after writing invoices, lines, links, rounding entries and balances, when it
    # comes to apply money paid ahead (the 3rd such account); the worker stops there.
    crash_on_call(monkeypatch, "invoice_numbers_take", 4, after=True)
    crash_on_call(monkeypatch, "allocate_money_many", 3, after=False)
    billed = sum(
        invoicing_bill_accounts(account_ids=part, run_date=RUN_DATE).invoices for part in parts[:3]
    )
    assert billed == Invoice.objects.count() > 0
    balances = {b.account_id: b.balance for b in Balance.objects.all()}
    for part in parts[3:5]:
        with pytest.raises(Crash):
            invoicing_bill_accounts(account_ids=part, run_date=RUN_DATE)
        assert not Invoice.objects.filter(account_id__in=part).exists()
        assert not Balance.objects.filter(account_id__in=part, billed_until__isnull=False).exists()
    assert Invoice.objects.count() == billed
    assert {b.account_id: b.balance for b in Balance.objects.all()} == balances
    assert_numbers_gapless(2026)
    assert_books_agree()

    rest = invoicing_run_month(run_date=RUN_DATE, chunk_size=5)

    assert rest.invoices == Invoice.objects.count() - billed
    # accounts in debt stay due, so the finishing run meets all ten of them again
    assert rest.skipped_negative_prepaid == 10
    for mine, theirs in zip(interrupted, reference, strict=True):
        assert outcome(mine) == outcome(theirs), Balance.objects.get(account_id=mine).account
    assert sum(outcome(i) is not None for i in interrupted) == 25
    assert_numbers_gapless(2026)
    assert_books_agree()
    assert invoicing_accounts_due(run_date=RUN_DATE) == sorted(
        [*interrupted[5::6], *reference[5::6]]
    )


@pytest.mark.django_db
def test_a_chunk_that_dies_after_writing_leaves_no_trace_and_the_rerun_bills_it(monkeypatch):
    """The same rollback inside the test's transaction (the chunk is a savepoint)."""
    ids = build_accounts(6, "s")
    before = footprint()
    crash_on_call(monkeypatch, "allocate_money_many", 1, after=False)

    with pytest.raises(Crash):
        run_month(RUN_DATE)

    assert footprint() == before
    monkeypatch.undo()
    result = run_month(RUN_DATE)
    assert (result.invoices, result.skipped_negative_prepaid) == (5, 1)
    assert [outcome(i) is not None for i in ids] == [True] * 5 + [False]
    assert_numbers_gapless(2026)
    assert_books_agree()
