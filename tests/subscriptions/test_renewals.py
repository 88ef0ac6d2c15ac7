"""Renewal on the 1st by payment mode (docs/design.md §3), run by the daily calendar step."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.services import account_block_credit, account_convert_mode
from ledger.models import Entry
from subscriptions.models import PaymentRequest, Subscription, SubscriptionStatusChange
from subscriptions.services import payment_request_confirm
from tests.factories import AccountFactory, staff_user
from tests.invoicing.helpers import pay

from .helpers import at, balance, fresh, on, order, renew, renewals

pytestmark = pytest.mark.django_db

D = Decimal


def new_account(day="2026-06-01", **kwargs):
    with on(day, hour=1):
        return AccountFactory(**kwargs)


def last_reason(subscription) -> str:
    return SubscriptionStatusChange.objects.filter(subscription=subscription).first().reason


def footprint():
    return {
        "entries": Entry.objects.count(),
        "requests": sorted(PaymentRequest.objects.values_list("pk", "status")),
        "logs": SubscriptionStatusChange.objects.count(),
        "subscriptions": sorted(
            Subscription.objects.values_list("pk", "status", "paid_until", "plan_price")
        ),
    }


# -- prepaid ---------------------------------------------------------------------------


def test_prepaid_with_enough_funds_renews_the_whole_month_on_the_1st(basic):
    account = new_account(funds="20")
    subscription = order(account, basic, "2026-06-11")

    assert renew("2026-07-01") == 1
    renewed = fresh(subscription)
    assert (renewed.status, renewed.paid_until) == ("active", date(2026, 7, 31))
    assert renewals(account) == [
        (D("-6.666667"), date(2026, 6, 11), date(2026, 6, 30)),
        (D("-10.000000"), date(2026, 7, 1), date(2026, 7, 31)),
    ]
    assert balance(account) == D("3.333333")


def test_prepaid_with_too_little_gets_a_payment_request_and_is_suspended(basic):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-11")  # 3.333333 left

    assert renew("2026-07-01") == 1
    suspended = fresh(subscription)
    assert (suspended.status, suspended.suspension_reason) == ("suspended", "non_payment")
    assert suspended.paid_until == date(2026, 6, 30)
    request = PaymentRequest.objects.get(subscription=subscription)
    assert (request.purpose, request.gateway, request.status) == (
        "renewal",
        "bank_transfer",
        "pending",
    )
    assert request.amount == D("10.000000")
    assert request.period_start == date(2026, 7, 1)
    assert request.reference in request.instructions
    assert "Payment request" in last_reason(subscription)
    assert len(renewals(account)) == 1  # nothing charged for July


def test_paying_the_prepaid_request_books_the_money_and_reactivates_the_service(basic):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-11")
    renew("2026-07-01")
    request = PaymentRequest.objects.get(subscription=subscription)
    clerk = staff_user("Billing staff")

    with on("2026-07-05", hour=14):
        settled = payment_request_confirm(request_id=request.pk, confirmed_by=clerk)

    assert settled.status == "succeeded"
    assert (settled.confirmed_by, settled.payment_entry.amount) == (clerk, D("10"))
    running = fresh(subscription)
    assert (running.status, running.paid_until) == ("active", date(2026, 7, 31))
    # Charged for the days it runs: 5–31 July, 10 × 27 / 31.
    assert renewals(account)[-1] == (D("-8.709677"), date(2026, 7, 5), date(2026, 7, 31))
    assert balance(account) == D("3.333333") + D("10") - D("8.709677")
    assert renew("2026-07-06") == 0


def test_prepaid_with_a_negative_balance_gets_no_request_and_is_suspended(basic):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, basic, "2026-06-11")  # balance −6.666667
    account_convert_mode(account_id=account.pk, payment_mode="prepaid", reason="No more credit")

    assert renew("2026-07-01") == 1
    assert fresh(subscription).status == "suspended"
    assert not PaymentRequest.objects.exists()
    assert "No prepaid invoice is issued while the balance is negative" in last_reason(subscription)


def test_a_prepaid_top_up_brings_the_service_back_the_next_day(basic):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-11")
    renew("2026-07-01")
    pay(account, "20", at(2026, 7, 4, 12))

    assert renew("2026-07-05") == 1
    running = fresh(subscription)
    assert (running.status, running.paid_until) == ("active", date(2026, 7, 31))
    assert renewals(account)[-1] == (D("-8.709677"), date(2026, 7, 5), date(2026, 7, 31))
    # The prepaid invoice is withdrawn: it was paid from the balance instead.
    assert PaymentRequest.objects.get(subscription=subscription).status == "cancelled"


def test_a_service_suspended_for_a_month_no_longer_comes_back_by_itself(basic):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-11")
    renew("2026-07-01")
    pay(account, "50", at(2026, 8, 4, 12))

    assert renew("2026-08-05") == 0
    assert fresh(subscription).status == "suspended"


# -- credit limit ----------------------------------------------------------------------


def test_credit_limit_with_enough_credit_renews_on_the_1st(basic):
    account = new_account(payment_mode="credit_limit", credit_limit="100")
    subscription = order(account, basic, "2026-06-11")
    assert renew("2026-07-01") == 1
    assert fresh(subscription).paid_until == date(2026, 7, 31)
    assert balance(account) == D("-16.666667")


def test_credit_limit_with_too_little_credit_is_suspended_without_a_request(basic):
    account = new_account(payment_mode="credit_limit", credit_limit="10")
    subscription = order(account, basic, "2026-06-11")  # 3.333333 usable left

    assert renew("2026-07-01") == 1
    suspended = fresh(subscription)
    assert (suspended.status, suspended.suspension_reason) == ("suspended", "non_payment")
    assert not PaymentRequest.objects.exists()
    assert "Insufficient funds" in last_reason(subscription)


def test_blocked_credit_keeps_the_paid_month_running_and_suspends_at_its_end(basic):
    account = new_account(payment_mode="credit_limit", credit_limit="100")
    subscription = order(account, basic, "2026-06-01")
    with on("2026-06-15"):
        account_block_credit(account_id=account.pk, reason="Overdue elsewhere")

    assert renew("2026-06-16") == 0
    assert renew("2026-06-30") == 0
    assert fresh(subscription).status == "active"  # paid to 30 June

    assert renew("2026-07-01") == 1
    assert fresh(subscription).status == "suspended"
    assert "blocked" in last_reason(subscription)


# -- postpaid --------------------------------------------------------------------------


def test_postpaid_always_renews_and_the_debt_grows(basic):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, basic, "2026-06-11")
    with on("2026-06-20"):
        from ledger.services import ledger_charge

        ledger_charge(account_id=account.pk, amount="5000", idempotency_key="big-usage")

    assert renew("2026-07-01") == 1
    assert fresh(subscription).paid_until == date(2026, 7, 31)
    assert balance(account) == D("-5016.666667")


# -- calendar --------------------------------------------------------------------------


def test_rerunning_the_step_books_nothing_new(basic, metered):
    prepaid = new_account(funds="10")
    order(prepaid, basic, "2026-06-11")
    order(new_account(funds="50"), basic, "2026-06-11")
    order(new_account(payment_mode="postpaid"), metered, "2026-06-11")
    assert renew("2026-07-01") == 3
    first = footprint()

    assert renew("2026-07-01") == 0
    assert renew("2026-07-02") == 0
    assert footprint() == first


def test_a_missed_1st_is_caught_up_for_the_whole_month(basic):
    account = new_account(funds="30")
    subscription = order(account, basic, "2026-06-11")
    assert renew("2026-07-03") == 1
    assert renewals(account)[-1] == (D("-10.000000"), date(2026, 7, 1), date(2026, 7, 31))
    assert fresh(subscription).paid_until == date(2026, 7, 31)


def test_a_catalogue_price_change_applies_from_the_next_period(basic):
    account = new_account(funds="50")
    subscription = order(account, basic, "2026-06-11")
    basic.price = D("12")
    basic.save()
    assert fresh(subscription).plan_price == D("10")  # this period keeps its price

    renew("2026-07-01")
    assert renewals(account)[-1][0] == D("-12.000000")
    assert fresh(subscription).plan_price == D("12")


# -- trials ----------------------------------------------------------------------------


def test_a_prepay_trial_ends_and_the_rest_of_the_month_is_charged(basic):
    account = new_account(funds="50")
    subscription = order(account, basic, "2026-06-11", trial=True)

    assert renew("2026-06-24") == 0
    assert renew("2026-06-25") == 1
    paid = fresh(subscription)
    assert (paid.is_trial, paid.status, paid.paid_until) == (False, "active", date(2026, 6, 30))
    assert renewals(account) == [(D("-2.000000"), date(2026, 6, 25), date(2026, 6, 30))]


def test_a_prepay_trial_without_funds_ends_suspended_with_a_request(basic):
    account = new_account()
    subscription = order(account, basic, "2026-06-11", trial=True)
    assert renew("2026-06-25") == 1
    ended = fresh(subscription)
    assert (ended.status, ended.is_trial) == ("suspended", False)
    assert PaymentRequest.objects.get(subscription=subscription).amount == D("2.000000")


def test_a_postpay_trial_ends_and_arrears_start_after_it(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-01", trial=True)
    assert fresh(subscription).trial_ends_on == date(2026, 7, 8)

    assert renew("2026-07-08") == 1
    assert fresh(subscription).paid_until == date(2026, 7, 7)
    assert renew("2026-08-01") == 1
    # 8–31 July: 24 of 31 days of 31 USD.
    assert renewals(account) == [(D("-24.000000"), date(2026, 7, 8), date(2026, 7, 31))]


def test_a_postpay_trial_of_an_account_made_prepaid_ends_suspended(metered):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-01", trial=True)
    account_convert_mode(account_id=account.pk, payment_mode="prepaid", reason="Back to prepaid")

    assert renew("2026-07-08") == 1
    ended = fresh(subscription)
    assert (ended.status, ended.suspension_reason) == ("suspended", "not_allowed")
    assert "convert" in last_reason(subscription)
    assert renew("2026-08-01") == 0
    assert not Entry.objects.filter(account=account).exists()


def test_a_prepaid_invoice_asks_for_whole_cents_and_the_rest_stays_on_the_balance(basic):
    account = new_account()
    subscription = order(account, basic, "2026-06-01", trial=True)
    # The trial ends on 15 June: 10 × 16 / 30 = 5.333333 is due, 5.34 can be transferred.
    assert renew("2026-06-15") == 1
    request = PaymentRequest.objects.get(subscription=subscription)
    assert request.amount == D("5.34")

    with on("2026-06-15", hour=12):
        payment_request_confirm(request_id=request.pk, confirmed_by=staff_user("Billing staff"))
    assert fresh(subscription).status == "active"
    assert balance(account) == D("0.006667")


def test_a_postpay_trial_ending_with_blocked_credit_waits_for_the_credit(metered):
    from accounts.services import account_unblock_credit

    account = new_account(payment_mode="credit_limit", credit_limit="100")
    subscription = order(account, metered, "2026-07-01", trial=True)
    account_block_credit(account_id=account.pk, reason="Overdue")

    assert renew("2026-07-08") == 1
    ended = fresh(subscription)
    assert (ended.status, ended.suspension_reason, ended.is_trial) == (
        "suspended",
        "non_payment",
        False,
    )
    assert renew("2026-07-09") == 0

    account_unblock_credit(account_id=account.pk, reason="Paid")
    assert renew("2026-07-12") == 1
    assert fresh(subscription).status == "active"
    renew("2026-08-01")
    assert renewals(account) == [(D("-20.000000"), date(2026, 7, 12), date(2026, 7, 31))]
