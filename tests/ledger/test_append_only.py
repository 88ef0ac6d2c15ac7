"""Entries are never updated or deleted, whoever asks: the database refuses it.

The database carries a trigger (migration 0002).
Each refused statement runs in its own savepoint so the test transaction survives it.
"""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Entry
from ledger.services import ledger_charge
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

REFUSED = "append-only"


@pytest.fixture
def entry():
    account = AccountFactory(funds="10")
    booking = ledger_charge(account_id=account.pk, amount="3", idempotency_key="c1")
    return booking.entry


def _unchanged(entry):
    stored = Entry.objects.get(pk=entry.pk)
    assert (stored.amount, stored.description, stored.kind) == (Decimal("-3"), "", "charge")
    assert Entry.objects.filter(account_id=entry.account_id).count() == 2


def test_orm_update_of_an_entry_is_refused(entry):
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).update(amount=Decimal("-1"), description="oops")

    _unchanged(entry)


def test_saving_a_changed_entry_is_refused(entry):
    entry.description = "edited"

    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        entry.save()

    _unchanged(entry)


def test_orm_delete_of_an_entry_is_refused(entry):
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).delete()

    _unchanged(entry)


def test_deleting_an_entry_instance_is_refused(entry):
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        entry.delete()

    _unchanged(entry)


def test_bulk_delete_of_an_accounts_entries_is_refused(entry):
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        Entry.objects.filter(account_id=entry.account_id).delete()

    _unchanged(entry)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET amount = amount * 2 WHERE id = %s",
        "UPDATE ledger_entry SET idempotency_key = 'other' WHERE id = %s",
        "DELETE FROM ledger_entry WHERE id = %s",
    ],
)
def test_raw_sql_update_or_delete_of_an_entry_is_refused(entry, sql):
    with (
        pytest.raises(IntegrityError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])

    _unchanged(entry)
