"""Postpay plans are charged in arrears on the 1st, on last month's invoice."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from invoicing.selectors import entry_invoice
from ledger.models import Entry
from subscriptions.services import (
    subscription_cancel,
    subscription_resume,
    subscription_suspend,
)
from tests.factories import AccountFactory, staff_user
from tests.invoicing.helpers import assert_books_agree, pay, run_cycle

from .helpers import at, fresh, on, order, renew, renewals

pytestmark = pytest.mark.django_db

D = Decimal


def new_account(**kwargs):
    with on("2026-07-01", hour=1):
        return AccountFactory(**kwargs)


def test_arrears_booked_on_the_1st_land_on_last_months_invoice(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-11")

    out = run_cycle("2026-08-01")
    assert "renew subscriptions: 1" in out
    assert "invoice last month: 1" in out

    entry = Entry.objects.get(account=account, kind="renewal")
    assert entry.idempotency_key == f"subscription:{subscription.pk}:arrears:2026-07"
    assert (entry.period_start, entry.period_end) == (date(2026, 7, 11), date(2026, 7, 31))
    assert entry.amount == D("-21.000000")  # 21 of 31 days of 31 USD
    invoice = Invoice.objects.get(account=account)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 7, 1), date(2026, 7, 31))
    assert entry_invoice(entry) == invoice
    assert invoice.total == D("21.00")
    assert [line.description for line in invoice.lines.all()] == [
        "Metered: 11 Jul – 31 Jul 2026 (in arrears)"
    ]
    assert fresh(subscription).paid_until == date(2026, 7, 31)
    assert_books_agree()

    assert "renew subscriptions: 0" in run_cycle("2026-08-01")


def test_postpaid_arrears_are_never_refused(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-01")
    assert renew("2026-08-01") == 1
    assert renew("2026-09-01") == 1
    assert fresh(subscription).paid_until == date(2026, 8, 31)
    assert [r[0] for r in renewals(account)] == [D("-31.000000"), D("-31.000000")]


def test_credit_limit_arrears_within_the_limit_are_billed_on_a_credit_invoice(metered):
    account = new_account(payment_mode="credit_limit", credit_limit="100")
    order(account, metered, "2026-07-01")
    run_cycle("2026-08-01")
    invoice = Invoice.objects.get(account=account)
    assert (invoice.kind, invoice.total, invoice.due_date) == (
        "credit",
        D("31.00"),
        date(2026, 8, 15),
    )


def test_credit_limit_arrears_over_the_limit_suspend_and_are_billed_once_credit_allows(metered):
    account = new_account(payment_mode="credit_limit", credit_limit="20")
    subscription = order(account, metered, "2026-07-01")

    assert renew("2026-08-01") == 1
    suspended = fresh(subscription)
    assert (suspended.status, suspended.suspension_reason) == ("suspended", "non_payment")
    assert suspended.paid_until == date(2026, 6, 30)  # July stays owed, not lost
    assert not renewals(account)

    pay(account, "50", at(2026, 8, 10, 12))
    assert renew("2026-08-11") == 1
    running = fresh(subscription)
    assert running.status == "active"
    assert running.paid_until == date(2026, 8, 10)  # 1–10 August were not served
    assert renewals(account) == [(D("-31.000000"), date(2026, 7, 1), date(2026, 7, 31))]

    run_cycle("2026-09-01")
    august = Invoice.objects.get(account=account, period_start=date(2026, 8, 1))
    # July's arrears (booked late) and 11–31 August: 31 + 21.
    assert august.total == D("52.00")
    assert_books_agree()


def test_suspended_days_are_never_billed(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-01")
    clerk = staff_user("Billing staff")
    with on("2026-07-11"):
        subscription_suspend(subscription_id=subscription.pk, reason="Abuse", suspended_by=clerk)
    with on("2026-07-21"):
        subscription_resume(subscription_id=subscription.pk, reason="Sorted", resumed_by=clerk)
    renew("2026-08-01")

    # 1–10 July billed at the resume, 21–31 July on the 1st: 10 + 11 of 31 days.
    assert renewals(account) == [
        (D("-10.000000"), date(2026, 7, 1), date(2026, 7, 10)),
        (D("-11.000000"), date(2026, 7, 21), date(2026, 7, 31)),
    ]


def test_a_cancelled_postpay_subscription_is_billed_for_the_days_it_ran(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-01")
    with on("2026-07-16"):
        subscription_cancel(
            subscription_id=subscription.pk, reason="Client left", cancelled_by=None
        )
    assert renew("2026-08-01") == 1
    assert renew("2026-09-01") == 0
    assert renewals(account) == [(D("-15.000000"), date(2026, 7, 1), date(2026, 7, 15))]


def test_postpay_arrears_use_the_price_in_force_when_the_month_began(metered):
    account = new_account(payment_mode="postpaid")
    order(account, metered, "2026-07-01")
    metered.price = D("62")
    metered.save()
    renew("2026-08-01")
    renew("2026-09-01")
    assert [r[0] for r in renewals(account)] == [D("-31.000000"), D("-62.000000")]


def test_arrears_catch_up_every_missed_month_separately(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-11")
    assert renew("2026-09-02") == 1
    assert renewals(account) == [
        (D("-21.000000"), date(2026, 7, 11), date(2026, 7, 31)),
        (D("-31.000000"), date(2026, 8, 1), date(2026, 8, 31)),
    ]
    assert fresh(subscription).paid_until == date(2026, 8, 31)
