"""Ordering plans (docs/design.md §3): prepay charged now, postpay in arrears, trials free."""

from datetime import date
from decimal import Decimal

import pytest

from ledger.exceptions import InsufficientFunds
from ledger.models import Entry
from subscriptions.exceptions import NotOrderable, PostpaidModeRequired
from subscriptions.models import Subscription, SubscriptionStatusChange
from subscriptions.services import plan_create
from tests.factories import AccountFactory, staff_user

from .helpers import balance, order

pytestmark = pytest.mark.django_db


def test_prepay_order_charges_the_rest_of_the_month_now_and_is_paid_to_its_end(basic):
    account = AccountFactory(funds="100")
    subscription = order(account, basic, "2026-06-11")

    assert subscription.status == "active"
    assert subscription.paid_until == date(2026, 6, 30)
    entry = Entry.objects.get(account=account, kind="renewal")
    assert entry.amount == Decimal("-6.666667")
    assert (entry.period_start, entry.period_end) == (date(2026, 6, 11), date(2026, 6, 30))
    assert entry.idempotency_key == f"subscription:{subscription.pk}:renewal:2026-06"
    assert balance(account) == Decimal("93.333333")


def test_prepaid_account_without_the_funds_is_refused_and_nothing_is_created(basic):
    account = AccountFactory(funds="5")
    with pytest.raises(InsufficientFunds):
        order(account, basic, "2026-06-11")
    assert not Subscription.objects.exists()
    assert balance(account) == Decimal("5")


def test_prepaid_account_ordering_a_postpay_plan_is_told_to_convert_first(metered):
    account = AccountFactory(funds="1000")
    with pytest.raises(PostpaidModeRequired) as refused:
        order(account, metered, "2026-06-11")
    assert "convert the account to postpaid or credit limit first" in refused.value.detail
    assert refused.value.field == "plan"
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "mode", [{"payment_mode": "postpaid"}, {"payment_mode": "credit_limit", "credit_limit": "50"}]
)
def test_postpay_order_charges_nothing_now_and_bills_from_today(metered, mode):
    account = AccountFactory(**mode)
    subscription = order(account, metered, "2026-07-11")
    assert subscription.status == "active"
    assert subscription.paid_until == date(2026, 7, 10)  # billed in arrears from the 11th
    assert not Entry.objects.filter(account=account).exists()


def test_trial_is_active_at_once_and_free(basic):
    account = AccountFactory()  # no money at all
    subscription = order(account, basic, "2026-06-11", trial=True)
    assert subscription.status == "active"
    assert subscription.is_trial
    assert subscription.trial_ends_on == date(2026, 6, 25)
    assert subscription.paid_until is None
    assert not Entry.objects.filter(account=account).exists()


def test_an_account_gets_one_trial_per_plan(basic):
    account = AccountFactory()
    order(account, basic, "2026-06-11", trial=True)
    with pytest.raises(NotOrderable, match="already had a trial"):
        order(account, basic, "2026-06-12", trial=True)


def test_a_plan_without_trial_days_cannot_be_ordered_as_a_trial(pro):
    with pytest.raises(NotOrderable, match="no trial"):
        order(AccountFactory(funds="100"), pro, "2026-06-11", trial=True)


def test_a_plan_in_another_currency_is_refused(db):
    euro = plan_create(code="euro", name="Euro plan", price="9", currency="EUR")
    with pytest.raises(NotOrderable, match="priced in EUR"):
        order(AccountFactory(funds="100"), euro, "2026-06-11")


def test_a_retired_plan_is_not_sold(basic):
    basic.active = False
    basic.save()
    with pytest.raises(NotOrderable, match="no longer sold"):
        order(AccountFactory(funds="100"), "basic", "2026-06-11")


def test_every_order_is_logged_with_who_and_why(basic):
    clerk = staff_user("Billing staff")
    subscription = order(AccountFactory(funds="100"), basic, "2026-06-11", ordered_by=clerk)
    log = SubscriptionStatusChange.objects.get(subscription=subscription)
    assert (log.from_status, log.to_status, log.changed_by) == ("", "active", clerk)
    assert "6.666667 USD charged" in log.reason


def test_a_free_plan_charges_nothing(db):
    free = plan_create(code="free", name="Free", price="0", currency="USD")
    subscription = order(AccountFactory(), free, "2026-06-11")
    assert subscription.status == "active"
    assert subscription.paid_until == date(2026, 6, 30)
    assert not Entry.objects.exists()


def test_blocked_credit_cannot_start_a_postpay_service(metered, basic):
    from accounts.services import account_block_credit
    from ledger.exceptions import CreditBlocked

    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    account_block_credit(account_id=account.pk, reason="Cheque bounced")
    with pytest.raises(CreditBlocked, match=r"Cheque bounced\..*\(by the billing team\)"):
        order(account, metered, "2026-07-01")
    assert order(account, metered, "2026-07-01", trial=True).status == "active"
