"""`billing_site.bulk.bulk_insert`: COPY on PostgreSQL, bulk_create elsewhere, same result."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from billing_site.bulk import bulk_insert
from invoicing.models import Invoice, InvoiceStatusChange
from ledger.models import Entry, EntryKind
from notifications.models import Event
from tests.factories import AccountFactory

from .invoicing.helpers import at, charge, run_month

pytestmark = pytest.mark.django_db


def test_objects_come_back_with_ids_and_their_values_stored_as_given():
    account = AccountFactory(payment_mode="postpaid")
    events = [
        Event(type="invoice.paid", data={"n": n, "total": {"amount": "1.50"}}, account=account)
        for n in range(3)
    ]
    bulk_insert(events)

    assert all(e.pk for e in events) and len({e.pk for e in events}) == 3
    stored = {e.pk: e for e in Event.objects.filter(pk__in=[e.pk for e in events])}
    for event in events:
        assert stored[event.pk].data == event.data
        assert stored[event.pk].message_id == event.message_id
        assert stored[event.pk].occurred_at is not None  # auto_now_add stamped
    # The sequence moved past the ids taken: the next ordinary insert does not collide.
    later = Event.objects.create(type="invoice.paid", data={}, account=account)
    assert later.pk > max(e.pk for e in events)


def test_a_row_breaking_a_constraint_refuses_the_whole_batch():
    charge(account := AccountFactory(payment_mode="postpaid"), "2", at(2026, 10, 5))
    run_month(date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    logs = [
        InvoiceStatusChange(invoice=invoice, from_status="", to_status="paid"),
        InvoiceStatusChange(invoice_id=invoice.pk + 1000, from_status="", to_status="paid"),
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(logs)
        Event.objects.count()  # deferred foreign-key checks run at the latest here…
        transaction.get_connection().check_constraints()  # …or here, at the latest
    assert InvoiceStatusChange.objects.filter(to_status="paid").count() == 0


def test_triggers_apply_to_rows_it_inserts():
    """The ledger's cut-off trigger refuses an entry back-dated into an invoiced window."""
    account = AccountFactory(payment_mode="postpaid")
    charge(account, "2", at(2026, 10, 5))
    run_month(date(2026, 11, 1))
    back_dated = Entry(
        account=account,
        amount=Decimal("-1"),
        kind=EntryKind.CHARGE,
        idempotency_key="back-dated",
        bill_at=at(2026, 10, 6),
    )
    with pytest.raises(IntegrityError, match="cut-off"), transaction.atomic():
        bulk_insert([back_dated])
    assert not Entry.objects.filter(idempotency_key="back-dated").exists()


def test_bulk_update_fields_writes_only_the_given_fields_of_each_object():
    from billing_site.bulk import bulk_update_fields

    account = AccountFactory(payment_mode="postpaid")
    for n, amount in enumerate(["2", "3.5"]):
        charge(account, amount, at(2026, 10, 5 + n))
    other = AccountFactory(payment_mode="postpaid")
    charge(other, "1", at(2026, 10, 9))
    run_month(date(2026, 11, 1))
    first, second = Invoice.objects.order_by("pk")
    first.amount_paid, second.amount_paid = Decimal("1.25"), Decimal("0.000001")
    first.due_date = date(2030, 1, 1)  # not among the fields written

    bulk_update_fields([first, second], ["amount_paid"])

    stored = {i.pk: i for i in Invoice.objects.all()}
    assert stored[first.pk].amount_paid == Decimal("1.25")
    assert stored[second.pk].amount_paid == Decimal("0.000001")
    assert stored[first.pk].due_date is None
