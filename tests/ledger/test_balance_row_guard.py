"""An account's balance row is kept for good (ledger migration 0008): never deleted, never
moved to another account, and never inserted with a cut-off other than its last
invoice's, so its billing cut-off can never be reset to reopen an invoiced window."""

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Balance, Entry
from ledger.services import ledger_charge
from tests.factories import AccountFactory
from tests.invoicing.helpers import at, charge, run_month
from tests.tamper import guards_lifted

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def invoiced():
    """An account whose November is invoiced: its cut-off is December 1st."""
    account = AccountFactory(payment_mode="postpaid")
    charge(account, "4", at(2026, 11, 10))
    run_month(date(2026, 12, 1))
    assert Balance.objects.get(account=account).billed_until == at(2026, 12, 1)
    return account


def _sql(statement, params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _row(account):
    return Balance.objects.values("balance", "unbilled", "entry_count", "billed_until").get(
        account=account
    )


def test_a_balance_row_is_never_deleted(invoiced):
    before = _row(invoiced)
    with pytest.raises(IntegrityError, match="is kept for good: DELETE refused"):
        _sql("DELETE FROM ledger_balance WHERE account_id = %s", [invoiced.pk])
    with pytest.raises(IntegrityError, match="is kept for good"), transaction.atomic():
        Balance.objects.filter(account=invoiced).delete()
    assert _row(invoiced) == before


def test_deleting_and_reinserting_the_row_cannot_reset_the_cut_off(invoiced):
    """The drill: delete the row, insert it again with no cut-off, book into November."""
    with pytest.raises(IntegrityError, match="DELETE refused"):
        _sql(
            "DELETE FROM ledger_balance WHERE account_id = %s; "
            "INSERT INTO ledger_balance (account_id, balance, unbilled, reserved, entry_count, "
            "billed_until, updated_at) VALUES (%s, 0, 0, 0, 0, NULL, now())",
            [invoiced.pk, invoiced.pk],
        )
    with pytest.raises(IntegrityError, match="before the account's billing cut-off"):
        _sql(
            "INSERT INTO ledger_entry (account_id, amount, kind, description, "
            "idempotency_key, bill_at, created_at) "
            "VALUES (%s, -1, 'usage', 'late', 'drill', %s, %s)",
            [invoiced.pk, at(2026, 11, 20), at(2026, 11, 20)],
        )
    assert _row(invoiced)["billed_until"] == at(2026, 12, 1)


def test_a_lost_row_cannot_come_back_empty(invoiced):
    """Even after the owner removed it with the guards lifted, no row can come back with
    a cut-off other than where the account's last invoice ends."""
    with guards_lifted("ledger_balance") as cursor:
        cursor.execute("DELETE FROM ledger_balance WHERE account_id = %s", [invoiced.pk])
    insert = (
        "INSERT INTO ledger_balance (account_id, balance, unbilled, reserved, entry_count, "
        "billed_until, updated_at) VALUES (%s, -4, 0, 0, 1, %s, now())"
    )
    for cutoff in (None, at(2026, 11, 15)):
        with pytest.raises(IntegrityError, match=r"is invoiced up to .* would reopen"):
            _sql(insert, [invoiced.pk, cutoff])
    assert not Balance.objects.filter(account=invoiced).exists()
    _sql(insert, [invoiced.pk, at(2026, 12, 1)])  # the row as it was
    assert _row(invoiced)["billed_until"] == at(2026, 12, 1)


def test_a_balance_row_never_moves_to_another_account(invoiced):
    other = AccountFactory()
    with guards_lifted("ledger_balance") as cursor:
        cursor.execute("DELETE FROM ledger_balance WHERE account_id = %s", [other.pk])
    with pytest.raises(IntegrityError, match="stays that account's"):
        _sql(
            "UPDATE ledger_balance SET account_id = %s WHERE account_id = %s",
            [other.pk, invoiced.pk],
        )
    assert _row(invoiced)["billed_until"] == at(2026, 12, 1)


def test_new_accounts_still_get_their_row_and_book():
    account = AccountFactory(funds="10")
    ledger_charge(account_id=account.pk, amount="3", idempotency_key="c1")
    assert (
        Balance.objects.get(account=account).entry_count
        == Entry.objects.filter(account=account).count()
    )
