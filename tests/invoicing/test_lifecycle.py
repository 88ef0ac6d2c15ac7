"""From the billing day to paid, per payment mode (docs/design.md §4), driven by the daily cycle."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from accounts.models import AccountStateChange, BillingAccount, CreditStatus
from accounts.services import account_block_credit, account_convert_mode
from billing_site.exceptions import InvalidInput, PermissionRefused
from invoicing.models import (
    Invoice,
    InvoiceKind,
    InvoiceSeries,
    InvoiceStatus,
    InvoiceStatusChange,
    Payment,
    PaymentStatus,
)
from invoicing.services import invoice_issue_now
from ledger.exceptions import CreditBlocked, InsufficientFunds
from ledger.selectors import account_figures
from tests.factories import AccountFactory, staff_user

from .helpers import assert_books_agree, at, charge, pay, reload, run_cycle, run_month

pytestmark = pytest.mark.django_db


def credit_moves(account):
    return list(
        AccountStateChange.objects.filter(account=account, field="credit_status")
        .order_by("changed_at", "id")
        .values_list("from_state", "to_state")
    )


def account(pk) -> BillingAccount:
    return BillingAccount.objects.get(pk=pk)


@pytest.fixture
def credit_account():
    with time_machine.travel(at(2026, 11, 1, 8)):
        return AccountFactory(payment_mode="credit_limit", credit_limit="500", payment_term_days=14)


def test_credit_limit_invoice_goes_overdue_blocks_credit_and_full_payment_unblocks_it(
    credit_account,
):
    charge(credit_account, "80.004", at(2026, 11, 10, 12))
    charge(credit_account, "19.99", at(2026, 11, 28, 12))

    assert "invoice last month: 1" in run_cycle("2026-12-01")
    invoice = Invoice.objects.get(account=credit_account)
    assert (invoice.kind, invoice.status) == (InvoiceKind.CREDIT, InvoiceStatus.APPROVED)
    assert invoice.total == Decimal("99.99")  # 99.994 rounded
    assert invoice.due_date == date(2026, 12, 15)  # issued_on + payment_term_days
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.due_date) == (PaymentStatus.WAITING, date(2026, 12, 15))

    assert "mark overdue: 0" in run_cycle("2026-12-15")  # the due date itself is still in time
    assert reload(invoice).status == InvoiceStatus.APPROVED
    assert account(credit_account.pk).credit_status == CreditStatus.ACTIVE

    assert "mark overdue: 1" in run_cycle("2026-12-16")
    assert reload(invoice).status == InvoiceStatus.OVERDUE
    blocked = account(credit_account.pk)
    assert blocked.credit_status == CreditStatus.BLOCKED
    assert blocked.credit_blocked_by_overdue is True
    assert credit_moves(credit_account) == [("active", "blocked")]
    with pytest.raises(CreditBlocked) as refused:
        charge(credit_account, "1", at(2026, 12, 16, 9))
    assert refused.value.code == "credit_blocked"

    assert "mark overdue: 0" in run_cycle("2026-12-16")  # the daily step again
    assert credit_moves(credit_account) == [("active", "blocked")]
    assert InvoiceStatusChange.objects.filter(invoice=invoice, to_status="overdue").count() == 1

    pay(credit_account, "50", at(2026, 12, 17, 9))  # half: still overdue, still blocked
    assert (reload(invoice).status, reload(invoice).amount_paid) == ("overdue", Decimal("50"))
    assert account(credit_account.pk).credit_status == CreditStatus.BLOCKED

    pay(credit_account, "49.99", at(2026, 12, 18, 9))

    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, invoice.total)
    assert invoice.paid_at is not None
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.COMPLETED
    unblocked = account(credit_account.pk)
    assert unblocked.credit_status == CreditStatus.ACTIVE
    assert unblocked.credit_blocked_by_overdue is False
    assert credit_moves(credit_account) == [("active", "blocked"), ("blocked", "active")]
    charge(credit_account, "1", at(2026, 12, 18, 10))  # credit usable again
    assert_books_agree()


def test_a_block_set_by_staff_is_not_lifted_by_paying_the_overdue_invoice(credit_account):
    charge(credit_account, "30", at(2026, 11, 10, 12))
    run_cycle("2026-12-01")
    with time_machine.travel(at(2026, 12, 5)):
        account_block_credit(account_id=credit_account.pk, reason="Fraud check")

    run_cycle("2026-12-16")
    invoice = Invoice.objects.get(account=credit_account)
    assert reload(invoice).status == InvoiceStatus.OVERDUE
    assert credit_moves(credit_account) == [("active", "blocked")]  # no second block

    pay(credit_account, "30", at(2026, 12, 17, 9))

    assert reload(invoice).status == InvoiceStatus.PAID
    still = account(credit_account.pk)
    assert (still.credit_status, still.credit_blocked_by_overdue) == (CreditStatus.BLOCKED, False)
    assert credit_moves(credit_account) == [("active", "blocked")]


def test_postpaid_invoice_has_no_due_date_and_never_goes_overdue_or_blocks():
    with time_machine.travel(at(2026, 11, 1, 8)):
        postpaid = AccountFactory(payment_mode="postpaid")
    charge(postpaid, "250", at(2026, 11, 10, 12))

    run_cycle("2026-12-01")

    invoice = Invoice.objects.get(account=postpaid)
    assert (invoice.kind, invoice.status) == (InvoiceKind.POSTPAID, InvoiceStatus.APPROVED)
    assert invoice.due_date is None
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.due_date) == (PaymentStatus.WAITING, None)
    for day in ("2026-12-16", "2027-01-02", "2027-03-15", "2027-11-30"):
        assert "mark overdue: 0" in run_cycle(day)
    assert reload(invoice).status == InvoiceStatus.APPROVED
    assert account(postpaid.pk).credit_status == CreditStatus.ACTIVE
    assert credit_moves(postpaid) == []
    charge(postpaid, "1000", at(2027, 12, 1, 9))  # still spends without limit


def test_prepaid_statement_is_issued_paid_with_no_payment_to_wait_for():
    with time_machine.travel(at(2026, 11, 1, 8)):
        prepaid = AccountFactory(funds="100")
    charge(prepaid, "30.505", at(2026, 11, 10, 12))

    run_cycle("2026-12-01")

    invoice = Invoice.objects.get(account=prepaid)
    assert (invoice.kind, invoice.status) == (InvoiceKind.STATEMENT, InvoiceStatus.PAID)
    assert invoice.total == invoice.amount_paid == Decimal("30.51")
    assert invoice.due_date is None
    assert invoice.paid_at is not None
    assert not Payment.objects.filter(invoice=invoice).exists()
    assert account_figures(prepaid.pk).balance == Decimal("69.49")
    assert_books_agree()


@pytest.fixture
def prepaid_in_debt():
    """Postpaid during November, switched to prepaid with a debt of 50 on the 20th."""
    with time_machine.travel(at(2026, 11, 1, 8)):
        in_debt = AccountFactory(payment_mode="postpaid")
    charge(in_debt, "50", at(2026, 11, 10, 12))
    with time_machine.travel(at(2026, 11, 20)):
        account_convert_mode(
            account_id=in_debt.pk, payment_mode="prepaid", reason="Postpaid switched off"
        )
    return in_debt


def test_prepaid_account_in_debt_gets_no_statement_until_topped_up_to_zero(prepaid_in_debt):
    for day in (date(2026, 12, 1), date(2026, 12, 2)):
        result = run_month(day)
        assert (result.invoices, result.skipped_negative_prepaid) == (0, 1)
    pay(prepaid_in_debt, "49.99", at(2026, 12, 3, 9))
    assert run_month(date(2026, 12, 4)).skipped_negative_prepaid == 1
    assert not Invoice.objects.exists()

    pay(prepaid_in_debt, "0.01", at(2026, 12, 5, 9))  # balance exactly zero
    assert "invoice last month: 1" in run_cycle("2026-12-06")

    invoice = Invoice.objects.get(account=prepaid_in_debt)
    assert (invoice.kind, invoice.status) == (InvoiceKind.STATEMENT, InvoiceStatus.PAID)
    assert (invoice.period_start, invoice.issued_on) == (date(2026, 11, 1), date(2026, 12, 6))
    assert invoice.amount_paid == invoice.total == Decimal("50.00")
    assert run_month(date(2026, 12, 7)).skipped_negative_prepaid == 0
    assert_books_agree()


def test_staff_invoice_a_prepaid_account_in_debt_by_hand_meanwhile(prepaid_in_debt):
    assert run_month(date(2026, 12, 1)).skipped_negative_prepaid == 1
    clerk = staff_user("Billing staff")

    with time_machine.travel(at(2026, 12, 3, 10)):
        invoice = invoice_issue_now(account_id=prepaid_in_debt.pk, issued_by=clerk)

    assert (invoice.kind, invoice.status) == (InvoiceKind.MANUAL, InvoiceStatus.APPROVED)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 11, 10), date(2026, 12, 3))
    assert invoice.due_date == date(2026, 12, 17)
    assert invoice.total == Decimal("50.00")
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.WAITING
    assert InvoiceStatusChange.objects.filter(invoice=invoice).last().changed_by == clerk
    # Nothing is left for the daily run to bill, so it no longer counts the account.
    result = run_month(date(2026, 12, 4))
    assert (result.invoices, result.skipped_negative_prepaid) == (0, 0)

    pay(prepaid_in_debt, "50", at(2026, 12, 10, 9))

    assert reload(invoice).status == InvoiceStatus.PAID
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.COMPLETED
    assert_books_agree()


def test_issuing_by_hand_is_refused_to_staff_without_the_issue_permission(prepaid_in_debt):
    outsider = staff_user()  # staff flag, no group, no permission

    with pytest.raises(PermissionRefused), time_machine.travel(at(2026, 12, 3, 10)):
        invoice_issue_now(account_id=prepaid_in_debt.pk, issued_by=outsider)
    assert not Invoice.objects.exists()


def test_a_monthly_unbilled_credit_limit_is_whole_again_once_the_month_is_invoiced():
    with time_machine.travel(at(2026, 11, 1, 8)):
        account = AccountFactory(
            payment_mode="credit_limit", credit_limit="100", credit_limit_scope="monthly_unbilled"
        )
    charge(account, "90", at(2026, 11, 10))
    with pytest.raises(InsufficientFunds):
        charge(account, "20", at(2026, 11, 30))

    run_month(date(2026, 12, 1))

    assert account_figures(account.pk).usable == Decimal("100")
    charge(account, "90", at(2026, 12, 2))  # billed debt is governed by the due date instead
    assert account_figures(account.pk).balance == Decimal("-180")


def test_issuing_by_hand_with_nothing_unbilled_is_refused_and_takes_no_number():
    account = AccountFactory(payment_mode="postpaid")

    with pytest.raises(InvalidInput) as refused:
        invoice_issue_now(account_id=account.pk)

    assert refused.value.field == "account"
    assert not Invoice.objects.exists()
    assert not InvoiceSeries.objects.filter(next_number__gt=1).exists()
