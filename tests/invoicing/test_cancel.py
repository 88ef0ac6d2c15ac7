"""Voiding an invoice reverses it in the ledger; an invoice with money on it stays."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from accounts.models import BillingAccount, CreditStatus
from billing_site.exceptions import InvalidTransition, PermissionRefused
from invoicing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from invoicing.selectors import entry_invoice
from invoicing.services import invoice_cancel, invoicing_accounts_due
from ledger.models import Entry, EntryKind
from ledger.selectors import account_figures
from tests.factories import AccountFactory, staff_user

from .helpers import assert_books_agree, at, charge, footprint, pay, reload, run_cycle, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return staff_user("Managers")


@pytest.fixture
def invoiced():
    """A JPY credit account billed 101 for November (100.5 charged, −0.5 rounding)."""
    account = AccountFactory(currency="JPY", payment_mode="credit_limit", credit_limit="10000")
    charge(account, "100.5", at(2026, 11, 10, 12))
    run_cycle("2026-12-01")
    return Invoice.objects.get(account=account)


def cancel(invoice, by, reason="Billed in error"):
    with time_machine.travel(at(2026, 12, 20, 9)):
        return invoice_cancel(invoice_id=invoice.pk, reason=reason, cancelled_by=by)


def test_cancelling_reverses_the_total_in_the_ledger_and_cancels_the_payment(invoiced, manager):
    account_id = invoiced.account_id
    assert account_figures(account_id).balance == Decimal("-101")

    cancel(invoiced, manager)

    invoice = reload(invoiced)
    assert invoice.status == InvoiceStatus.CANCELLED
    reversal = Entry.objects.get(account_id=account_id, kind=EntryKind.ADJUSTMENT)
    assert reversal.amount == invoice.total == Decimal("101")
    assert entry_invoice(reversal) == invoice
    figures = account_figures(account_id)
    assert (figures.balance, figures.unbilled, figures.amount_due) == (0, 0, 0)
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.CANCELLED
    log = invoice.status_changes.last()
    assert (log.from_status, log.to_status, log.changed_by, log.reason) == (
        "approved",
        "cancelled",
        manager,
        "Billed in error",
    )
    # The voided charges stay with the voided invoice: no later run bills them again.
    with time_machine.travel(at(2027, 1, 1, 0, 5)):
        assert invoicing_accounts_due(run_date=date(2027, 1, 1)) == []
    assert_books_agree()


def test_cancelling_the_overdue_invoice_lifts_the_overdue_block(invoiced, manager):
    run_cycle("2026-12-16")
    account = BillingAccount.objects.get(pk=invoiced.account_id)
    assert (reload(invoiced).status, account.credit_status) == ("overdue", CreditStatus.BLOCKED)

    cancel(invoiced, manager)

    account = BillingAccount.objects.get(pk=invoiced.account_id)
    assert account.credit_status == CreditStatus.ACTIVE
    assert_books_agree()


@pytest.mark.parametrize("paid", ["101", "1"], ids=["paid", "partly-paid"])
def test_an_invoice_with_money_applied_cannot_be_cancelled(invoiced, manager, paid):
    pay(invoiced.account, paid, at(2026, 12, 5))
    before = footprint()

    with pytest.raises(InvalidTransition) as refused:
        cancel(invoiced, manager)

    assert refused.value.code == "invalid_transition"
    assert invoiced.number in refused.value.detail
    assert footprint() == before
    assert not Entry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()


def test_a_prepaid_statement_cannot_be_cancelled(manager):
    prepaid = AccountFactory(currency="JPY", funds="500")
    charge(prepaid, "120", at(2026, 11, 10))
    run_month(date(2026, 12, 1))
    statement = Invoice.objects.get(account=prepaid)

    with pytest.raises(InvalidTransition):
        cancel(statement, manager)
    assert reload(statement).status == InvoiceStatus.PAID


def test_billing_staff_may_not_cancel(invoiced):
    with pytest.raises(PermissionRefused):
        cancel(invoiced, staff_user("Billing staff"))
    assert reload(invoiced).status == InvoiceStatus.APPROVED
