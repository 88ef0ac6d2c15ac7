"""The five figures of an account and the books check (docs/design.md §2)."""

from decimal import Decimal

import pytest
from django.db.models import F

from ledger.models import Balance
from ledger.selectors import account_figures, ledger_mismatches
from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_receive_payment,
    ledger_release,
    ledger_reserve,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_balance_is_unbilled_plus_amount_due():
    account = AccountFactory(payment_mode="postpaid")
    ledger_charge(account_id=account.pk, amount="30", idempotency_key="c1")
    ledger_charge(account_id=account.pk, amount="0.000001", idempotency_key="c2", kind="usage")
    ledger_receive_payment(account_id=account.pk, amount="50", idempotency_key="p1")

    figures = account_figures(account)

    assert figures.balance == Decimal("19.999999")
    assert figures.unbilled == Decimal("-30.000001")
    assert figures.amount_due == Decimal("50")
    assert figures.balance == figures.unbilled + figures.amount_due


def test_payments_raise_amount_due_not_unbilled():
    account = AccountFactory(payment_mode="postpaid")
    ledger_charge(account_id=account.pk, amount="30", idempotency_key="c1")
    before = account_figures(account)

    ledger_receive_payment(account_id=account.pk, amount="12", idempotency_key="p1")

    after = account_figures(account)
    assert after.unbilled == before.unbilled == Decimal("-30")
    assert after.amount_due == before.amount_due + Decimal("12")
    assert after.balance == before.balance + Decimal("12")


def test_reserved_is_the_sum_of_pending_holds():
    account = AccountFactory(funds="100")
    a = ledger_reserve(account_id=account.pk, amount="10", idempotency_key="a").reservation
    b = ledger_reserve(account_id=account.pk, amount="20", idempotency_key="b").reservation
    ledger_reserve(account_id=account.pk, amount="5.5", idempotency_key="c")
    ledger_commit(reservation_id=a.pk, amount="1")
    ledger_release(reservation_id=b.pk)

    figures = account_figures(account)

    assert figures.reserved == Decimal("5.5")
    assert figures.balance == Decimal("99")
    assert figures.usable == Decimal("93.5")


@pytest.mark.parametrize("entries", [1, 200])
def test_account_figures_reads_one_row_whatever_the_number_of_entries(
    entries, django_assert_num_queries
):
    account = AccountFactory(payment_mode="postpaid")
    for n in range(entries):
        ledger_charge(account_id=account.pk, amount="0.01", idempotency_key=f"c{n}")

    with django_assert_num_queries(1):
        figures = account_figures(account.pk)

    assert figures.balance == Decimal("-0.01") * entries


def test_ledger_mismatches_finds_nothing_on_healthy_books():
    prepaid = AccountFactory(funds="10")
    credit = AccountFactory(payment_mode="credit_limit", credit_limit="50")
    AccountFactory()  # no entries at all
    ledger_charge(account_id=prepaid.pk, amount="2.345678", idempotency_key="c1")
    hold = ledger_reserve(account_id=credit.pk, amount="7", idempotency_key="h1").reservation
    ledger_reserve(account_id=credit.pk, amount="3", idempotency_key="h2")
    ledger_commit(reservation_id=hold.pk, amount="6.5")
    ledger_receive_payment(account_id=credit.pk, amount="1", idempotency_key="p1")

    assert list(ledger_mismatches()) == []
    assert list(ledger_mismatches(chunk_size=1)) == []


@pytest.mark.parametrize(
    ("corruption", "what", "stored", "computed"),
    [
        ({"balance": F("balance") + 1}, "balance", "9", "8"),
        ({"unbilled": F("unbilled") - Decimal("0.000001")}, "unbilled", "-2.000001", "-2"),
        ({"reserved": 0}, "reserved", "0", "3"),
        ({"entry_count": 5}, "entry count", "5", "2"),
    ],
)
def test_ledger_mismatches_finds_a_corrupted_balance_row(corruption, what, stored, computed):
    healthy = AccountFactory(funds="1")
    account = AccountFactory(funds="10")
    ledger_charge(account_id=account.pk, amount="2", idempotency_key="c1")
    ledger_reserve(account_id=account.pk, amount="3", idempotency_key="h1")

    Balance.objects.filter(account=account).update(**corruption)

    mismatches = list(ledger_mismatches(chunk_size=1))
    assert len(mismatches) == 1
    (mismatch,) = mismatches
    assert mismatch.account_id == account.pk != healthy.pk
    assert mismatch.what == what
    assert (mismatch.stored, mismatch.computed) == (Decimal(stored), Decimal(computed))
    assert f"account {account.pk}: {what} row says" in str(mismatch)
