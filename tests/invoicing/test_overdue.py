"""Only an unpaid invoice goes overdue: money received in time keeps it (and the credit) clear."""

from datetime import date

import pytest
import time_machine

from accounts.models import BillingAccount, CreditStatus
from invoicing.models import Invoice, InvoiceStatus, InvoiceStatusChange
from invoicing.services import invoicing_mark_overdue
from notifications.models import Event
from tests.factories import AccountFactory

from .helpers import at, charge, pay, reload, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit_account():
    with time_machine.travel(at(2026, 11, 1, 8)):
        return AccountFactory(payment_mode="credit_limit", credit_limit="500", payment_term_days=14)


def assert_never_overdue(invoice):
    assert reload(invoice).status == InvoiceStatus.PAID
    assert not InvoiceStatusChange.objects.filter(
        invoice=invoice, to_status=InvoiceStatus.OVERDUE
    ).exists()
    assert not Event.objects.filter(type="invoice.overdue").exists()
    assert not Event.objects.filter(type="credit.blocked").exists()
    account = BillingAccount.objects.get(pk=invoice.account_id)
    assert (account.credit_status, account.credit_blocked_by_overdue) == (
        CreditStatus.ACTIVE,
        False,
    )


def test_an_invoice_paid_before_its_due_date_is_not_marked_overdue(credit_account):
    charge(credit_account, "80", at(2026, 11, 10, 12))
    run_month(date(2026, 12, 1))
    invoice = Invoice.objects.get(account=credit_account)
    assert (invoice.status, invoice.due_date) == (InvoiceStatus.APPROVED, date(2026, 12, 15))
    pay(credit_account, "80", at(2026, 12, 6, 12))

    assert invoicing_mark_overdue(run_date=date(2026, 12, 16)) == 0

    assert_never_overdue(invoice)


def test_money_received_before_the_invoice_pays_it_at_issue_and_it_never_goes_overdue(
    credit_account,
):
    pay(credit_account, "100", at(2026, 11, 2, 9))  # before the invoice exists
    charge(credit_account, "80", at(2026, 11, 10, 12))
    run_month(date(2026, 12, 1))
    invoice = Invoice.objects.get(account=credit_account)

    assert invoicing_mark_overdue(run_date=date(2027, 1, 1)) == 0

    assert_never_overdue(invoice)
