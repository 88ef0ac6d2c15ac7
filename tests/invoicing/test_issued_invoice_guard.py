"""Issued invoices are guarded by the database whoever writes (migration 0007): their
number, account, period and amounts never change, their status moves only along the
model's transitions, they are never deleted, and their lines are written once.

Every invoice here is reached through the services; each refused statement runs in its
own savepoint."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from approvals.services import settings_update
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.services import invoice_cancel, invoicing_close_erp, invoicing_mark_overdue
from tests.factories import AccountFactory, UserFactory

from .helpers import assert_books_agree, at, charge, pay, run_month

pytestmark = pytest.mark.django_db(transaction=True)

RUN = date(2026, 12, 1)


@pytest.fixture
def boss():
    return UserFactory(is_staff=True, is_superuser=True)


def _credit_invoice(amount="12.345", funds=None, term=14) -> Invoice:
    account = AccountFactory(
        payment_mode="credit_limit", credit_limit="1000", payment_term_days=term
    )
    charge(account, amount, at(2026, 11, 10), description="Calls")
    charge(account, "3", at(2026, 11, 12), description="Plan")
    if funds:
        pay(account, funds, at(2026, 11, 20))
    run_month(RUN)
    return Invoice.objects.get(account=account)


@pytest.fixture
def approved() -> Invoice:
    invoice = _credit_invoice()
    assert invoice.status == InvoiceStatus.APPROVED
    return invoice


@pytest.fixture
def by_status(boss) -> dict[str, Invoice]:
    """One invoice in every status, each moved there by the services."""
    approved = _credit_invoice(term=60)
    paid = _credit_invoice(funds="100")
    overdue = _credit_invoice()
    cancelled = _credit_invoice()
    with time_machine.travel(at(2026, 12, 2), tick=False):
        invoice_cancel(invoice_id=cancelled.pk, reason="Billed twice.", cancelled_by=boss)
    with time_machine.travel(at(2026, 12, 20), tick=False):
        invoicing_mark_overdue(run_date=date(2026, 12, 20))
    # ERP mode: open on the billing day, closed by the next day's cycle.
    settings_update(changed_by=boss, external_invoicing=True)
    closed = AccountFactory(payment_mode="postpaid")
    charge(closed, "4", at(2026, 11, 10))
    run_month(RUN)
    with time_machine.travel(at(2026, 12, 2, 6), tick=False):
        invoicing_close_erp(run_date=date(2026, 12, 2))
    still_open = AccountFactory(payment_mode="postpaid")
    charge(still_open, "5", at(2026, 11, 11))
    run_month(RUN)
    invoices = {
        "approved": Invoice.objects.get(pk=approved.pk),
        "paid": Invoice.objects.get(pk=paid.pk),
        "overdue": Invoice.objects.get(pk=overdue.pk),
        "cancelled": Invoice.objects.get(pk=cancelled.pk),
        "closed": Invoice.objects.get(account=closed),
        "open": Invoice.objects.get(account=still_open),
    }
    assert {status: i.status for status, i in invoices.items()} == {s: s for s in invoices}
    return invoices


def _refused(match):
    return pytest.raises(IntegrityError, match=match)


def _sql(statement, params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _insert_lines(lines):
    with transaction.atomic():
        InvoiceLine.objects.bulk_create(lines)


def _stored(invoice):
    return Invoice.objects.values(
        "number", "account_id", "period_start", "period_end", "status", "total", "amount_paid"
    ).get(pk=invoice.pk)


# -- number, account, period, amounts -----------------------------------------------------


FIELD_CHANGES = [
    (
        "UPDATE invoicing_invoice SET total = total + 1, rounding = rounding - 1 WHERE id = %s",
        "rounding, total",
    ),
    ("UPDATE invoicing_invoice SET number = 'INV-2026-999999' WHERE id = %s", "number"),
    (
        "UPDATE invoicing_invoice SET period_start = period_start + 1 WHERE id = %s",
        "period_start",
    ),
    ("UPDATE invoicing_invoice SET period_end = period_end - 1 WHERE id = %s", "period_end"),
    (
        "UPDATE invoicing_invoice SET bills_until = bills_until - interval '1 day' WHERE id = %s",
        "bills_until",
    ),
    (
        "UPDATE invoicing_invoice SET account_id = (SELECT max(id) FROM "
        "accounts_billingaccount) WHERE id = %s",
        "account",
    ),
]


def test_an_issued_invoices_number_account_period_and_total_never_change(approved):
    AccountFactory()  # another account to move the invoice to
    before = _stored(approved)

    for statement, changed in FIELD_CHANGES:
        with _refused(f"invoice {approved.number} is issued: its {changed} cannot change"):
            _sql(statement, [approved.pk])

    assert _stored(approved) == before


def test_the_orm_cannot_change_an_issued_total_either(approved):
    before = _stored(approved)
    with _refused("cannot change"), transaction.atomic():
        Invoice.objects.filter(pk=approved.pk).update(
            total=F("total") - 1, subtotal=F("subtotal") + 1
        )
    assert _stored(approved) == before


def test_a_total_that_is_not_the_billed_amount_is_refused_on_insert(approved):
    row = Invoice.objects.values().get(pk=approved.pk)
    row.update(number="INV-2026-777777", kind="manual", bills_from=None, bills_until=None)
    row["total"] += 1
    with _refused("invoice_total_is_billed_amount"), transaction.atomic():
        Invoice.objects.create(**{k: v for k, v in row.items() if k != "id"})


# -- status ---------------------------------------------------------------------------


def _transitions_of_the_model() -> set[tuple[str, str]]:
    moves = set()
    for transition in Invoice._meta.get_field("status").get_all_transitions(Invoice):
        moves.add((transition.source, transition.target))
    return moves


def test_the_database_allows_exactly_the_models_transitions(by_status):
    """Every (from, to) pair tried on a real invoice in `from`: the database lets through
    exactly the moves django-fsm declares on `Invoice`, and nothing else."""
    allowed = set()
    now = timezone.now()
    for source, invoice in by_status.items():
        for target in InvoiceStatus.values:
            if target == source:
                continue
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE invoicing_invoice SET status = %s, "
                        "amount_paid = CASE WHEN %s = 'paid' THEN GREATEST(total, 0) "
                        "ELSE amount_paid END, "
                        "paid_at = CASE WHEN %s = 'paid' THEN %s ELSE paid_at END, "
                        "due_date = CASE WHEN %s = 'approved' THEN %s ELSE due_date END, "
                        "approved_at = CASE WHEN %s = 'approved' THEN %s ELSE approved_at END "
                        "WHERE id = %s",
                        [
                            target,
                            target,
                            target,
                            now,
                            target,
                            RUN + timedelta(days=30),
                            target,
                            now,
                            invoice.pk,
                        ],
                    )
                    allowed.add((source, target))
                    transaction.set_rollback(True)
            except IntegrityError:
                pass

    assert allowed == _transitions_of_the_model()
    assert {(s, i.status) for s, i in by_status.items()} == {(s, s) for s in by_status}


OFF_THE_TRANSITIONS = [
    ("approved", "open", "cannot move from approved to open"),
    ("paid", "approved", "cannot move from paid to approved"),
    ("cancelled", "approved", "cannot move from cancelled to approved"),
    ("overdue", "approved", "cannot move from overdue to approved"),
    ("approved", "paid", "is not paid: 0.000000 of"),
]


def test_a_status_outside_the_transitions_is_refused(by_status):
    for status, target, complaint in OFF_THE_TRANSITIONS:
        invoice = by_status[status]
        before = _stored(invoice)
        with _refused(complaint):
            _sql("UPDATE invoicing_invoice SET status = %s WHERE id = %s", [target, invoice.pk])
        assert _stored(invoice) == before


def test_money_applied_never_shrinks_nor_lands_on_a_settled_invoice(by_status):
    paid, cancelled = by_status["paid"], by_status["cancelled"]
    with _refused("only grows, and only while it is unpaid"):
        _sql("UPDATE invoicing_invoice SET amount_paid = 0 WHERE id = %s", [paid.pk])
    with _refused("only grows, and only while it is unpaid"):
        _sql("UPDATE invoicing_invoice SET amount_paid = 1 WHERE id = %s", [cancelled.pk])
    assert _stored(paid)["amount_paid"] == paid.total


def test_the_due_date_is_fixed_by_the_approval(approved):
    with _refused("its due date and approval are set when it is approved"):
        _sql("UPDATE invoicing_invoice SET due_date = due_date + 365 WHERE id = %s", [approved.pk])
    assert Invoice.objects.get(pk=approved.pk).due_date == approved.due_date


def test_the_pdf_cache_columns_stay_writable(approved):
    Invoice.objects.filter(pk=approved.pk).update(pdf_file="x.pdf", pdf_version="v2")
    assert Invoice.objects.values_list("pdf_version", flat=True).get(pk=approved.pk) == "v2"


# -- delete ---------------------------------------------------------------------------


def test_an_issued_invoice_is_never_deleted(by_status):
    for invoice in by_status.values():
        with _refused(f"invoice {invoice.number} is issued: deleting it is refused"):
            _sql("DELETE FROM invoicing_invoice WHERE id = %s", [invoice.pk])
    assert Invoice.objects.count() == len(by_status)


# -- lines ----------------------------------------------------------------------------


def test_an_issued_invoices_lines_are_never_updated_or_deleted(approved):
    line = InvoiceLine.objects.filter(invoice=approved).first()
    with _refused("invoice lines are written with their invoice: UPDATE"):
        _sql("UPDATE invoicing_invoiceline SET amount = amount - 1 WHERE id = %s", [line.pk])
    with _refused("invoice lines are written with their invoice: DELETE"):
        _sql("DELETE FROM invoicing_invoiceline WHERE invoice_id = %s", [approved.pk])
    assert InvoiceLine.objects.filter(invoice=approved).count() == 2
    assert_books_agree()


def test_no_line_is_ever_added_to_an_issued_invoice(approved):
    for amounts in (["0"], ["-5", "5"], ["-1"]):  # nothing, netting to nothing, a charge
        extra = [
            InvoiceLine(invoice=approved, kind="usage", description="Extra", amount=a)
            for a in amounts
        ]
        with _refused(f"invoice {approved.number} is issued with its lines"):
            _insert_lines(extra)
    assert InvoiceLine.objects.filter(invoice=approved).count() == 2


def test_the_services_still_pay_an_overdue_invoice(by_status):
    """The guard lets every move the services make through (the fixture made them)."""
    overdue = by_status["overdue"]
    pay(overdue.account, "20", at(2026, 12, 21))
    assert Invoice.objects.get(pk=overdue.pk).status == InvoiceStatus.PAID
    assert Invoice.objects.get(pk=overdue.pk).amount_paid == Decimal("15.35")
    assert_books_agree()
