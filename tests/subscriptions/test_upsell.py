"""Upsell: prorated for the rest of the month, paid from the balance or through a gateway."""

from datetime import date
from decimal import Decimal

import pytest

from billing_site.exceptions import PermissionRefused
from ledger.exceptions import CreditBlocked, InsufficientFunds
from ledger.models import Entry
from subscriptions.exceptions import NotOrderable, SubscriptionStateError
from subscriptions.models import PaymentRequest, SubscriptionAddOn, Upsell
from subscriptions.services import (
    payment_request_cancel,
    payment_request_confirm,
    plan_create,
    subscription_suspend,
    upsell_order,
)
from tests.factories import AccountFactory, UserFactory, staff_user

from .helpers import balance, fresh, on, order, renew, renewals

pytestmark = pytest.mark.django_db

D = Decimal


def new_account(**kwargs):
    with on("2026-06-01", hour=1):
        return AccountFactory(**kwargs)


def upgrade(subscription, day, **kwargs):
    kwargs.setdefault("to_plan", "pro")
    with on(day):
        return upsell_order(subscription_id=subscription.pk, **kwargs)


def upsell_charges(account):
    return list(
        Entry.objects.filter(account=account, kind="charge")
        .order_by("id")
        .values_list("amount", "period_start", "period_end")
    )


# -- from the balance ------------------------------------------------------------------


def test_balance_upgrade_is_charged_prorated_and_applied_at_once(basic, pro):
    account = new_account(funds="100")
    subscription = order(account, basic, "2026-06-01")

    upsell = upgrade(subscription, "2026-06-11")

    assert (upsell.status, upsell.amount, upsell.charged) == ("applied", D("20"), D("20"))
    changed = fresh(subscription)
    assert (changed.plan, changed.plan_price) == (pro, D("40"))
    assert upsell_charges(account) == [(D("-20.000000"), date(2026, 6, 11), date(2026, 6, 30))]
    renew("2026-07-01")
    assert renewals(account)[-1][0] == D("-40.000000")  # the new plan from the next month


def test_prepaid_balance_upgrade_without_the_funds_is_refused_and_changes_nothing(basic, pro):
    account = new_account(funds="15")
    subscription = order(account, basic, "2026-06-01")  # 5 left, the upgrade costs 20
    with pytest.raises(InsufficientFunds, match="Insufficient funds"):
        upgrade(subscription, "2026-06-11")
    assert fresh(subscription).plan == basic
    assert not Upsell.objects.exists()
    assert balance(account) == D("5")


def test_credit_limit_balance_upgrade_passes_only_within_usable_credit(basic, pro):
    roomy = new_account(payment_mode="credit_limit", credit_limit="100")
    assert upgrade(order(roomy, basic, "2026-06-01"), "2026-06-11").status == "applied"

    tight = new_account(payment_mode="credit_limit", credit_limit="25")
    subscription = order(tight, basic, "2026-06-01")  # 15 usable left, the upgrade costs 20
    with pytest.raises(InsufficientFunds):
        upgrade(subscription, "2026-06-11")
    assert fresh(subscription).plan == basic


def test_blocked_credit_refuses_a_balance_upgrade(basic, pro):
    from accounts.services import account_block_credit

    account = new_account(payment_mode="credit_limit", credit_limit="100")
    subscription = order(account, basic, "2026-06-01")
    account_block_credit(account_id=account.pk, reason="Overdue")
    with pytest.raises(CreditBlocked):
        upgrade(subscription, "2026-06-11")


def test_postpaid_balance_upgrade_always_passes_and_the_debt_grows(basic, pro):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, basic, "2026-06-01")
    assert upgrade(subscription, "2026-06-11").status == "applied"
    assert balance(account) == D("-30")


def test_an_add_on_is_charged_now_and_renews_with_the_plan(basic):
    account = new_account(funds="100")
    subscription = order(account, basic, "2026-06-01")
    upsell = upgrade(subscription, "2026-06-11", to_plan=None, add_on="static-ip")
    assert upsell.charged == D("3.333333")  # 5 × 20 / 30
    bought = SubscriptionAddOn.objects.get(subscription=subscription)
    assert bought.billed_from == date(2026, 7, 1)

    renew("2026-07-01")
    assert renewals(account)[-1] == (D("-15.000000"), date(2026, 7, 1), date(2026, 7, 31))
    with pytest.raises(NotOrderable, match="already has"):
        upgrade(subscription, "2026-07-02", to_plan=None, add_on="static-ip")


def test_postpay_upgrade_bills_the_old_plan_in_arrears_and_the_difference_now(
    metered, metered_plus
):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, metered, "2026-07-01")
    upgrade(subscription, "2026-07-21", to_plan="metered-plus")  # (62 − 31) × 11 / 31 = 11
    renew("2026-08-01")
    renew("2026-09-01")
    assert upsell_charges(account) == [(D("-11.000000"), date(2026, 7, 21), date(2026, 7, 31))]
    assert [r[0] for r in renewals(account)] == [D("-31.000000"), D("-62.000000")]


def test_a_downgrade_is_refused_with_a_clear_message(basic, pro):
    account = new_account(funds="100")
    subscription = order(account, pro, "2026-06-01")
    with pytest.raises(NotOrderable, match="only upgrades are made mid-period"):
        upgrade(subscription, "2026-06-11", to_plan="basic")


def test_changes_are_refused_during_a_trial_and_while_suspended(basic, pro):
    account = new_account(funds="100")
    trial = order(account, basic, "2026-06-01", trial=True)
    with pytest.raises(NotOrderable, match="trial"):
        upgrade(trial, "2026-06-02")

    paid = order(account, pro, "2026-06-01")
    subscription_suspend(subscription_id=paid.pk, reason="Abuse", suspended_by=None)
    with pytest.raises(SubscriptionStateError, match="only an active subscription"):
        upgrade(paid, "2026-06-02", to_plan=None, add_on="static-ip")


def test_a_plan_of_another_charging_model_is_not_an_upgrade(basic, metered_plus):
    account = new_account(payment_mode="postpaid")
    subscription = order(account, basic, "2026-06-01")
    with pytest.raises(NotOrderable, match="charging model"):
        upgrade(subscription, "2026-06-11", to_plan="metered-plus")


def test_an_add_on_the_plan_does_not_offer_is_refused(basic, db):
    from subscriptions.services import add_on_create

    add_on_create(code="backup", name="Backup", price="3", currency="USD")
    subscription = order(new_account(funds="100"), basic, "2026-06-01")
    with pytest.raises(NotOrderable, match="does not offer"):
        upgrade(subscription, "2026-06-11", to_plan=None, add_on="backup")


# -- through a gateway -----------------------------------------------------------------


def test_a_bank_transfer_upgrade_is_not_active_until_the_money_is_confirmed(basic, pro):
    account = new_account(funds="10")  # nothing left after the order: the gateway pays
    subscription = order(account, basic, "2026-06-01")

    upsell = upgrade(subscription, "2026-06-11", pay_with="gateway", gateway="bank_transfer")

    assert upsell.status == "pending_payment"
    request = upsell.payment_request
    assert (request.status, request.gateway, request.amount) == ("pending", "bank_transfer", D(20))
    assert request.reference in request.instructions
    assert fresh(subscription).plan == basic  # not active yet
    assert not upsell_charges(account)
    assert renew("2026-06-12") == 0
    assert fresh(subscription).plan == basic

    clerk = staff_user("Billing staff")
    with on("2026-06-11", hour=15):
        payment_request_confirm(request_id=request.pk, confirmed_by=clerk)

    applied = Upsell.objects.get(pk=upsell.pk)
    assert (applied.status, applied.charged) == ("applied", D("20"))
    assert fresh(subscription).plan == pro
    assert balance(account) == D("0")
    assert PaymentRequest.objects.get(pk=request.pk).status == "succeeded"


def test_money_arriving_days_later_pays_for_the_days_left_and_the_rest_stays(basic, pro):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-01")
    upsell = upgrade(subscription, "2026-06-11", pay_with="gateway", gateway="bank_transfer")

    with on("2026-06-21"):
        payment_request_confirm(
            request_id=upsell.payment_request.pk, confirmed_by=staff_user("Billing staff")
        )

    assert Upsell.objects.get(pk=upsell.pk).charged == D("10")  # 30 × 10 / 30
    assert balance(account) == D("10")


def test_the_test_gateway_pays_at_once_and_the_change_is_active(basic, pro):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-01")
    upsell = upgrade(subscription, "2026-06-11", pay_with="gateway", gateway="test")
    assert upsell.status == "applied"
    assert upsell.payment_request.status == "succeeded"
    assert fresh(subscription).plan == pro
    assert balance(account) == D("0")


def test_only_users_who_confirm_payments_may_use_the_test_gateway(basic, pro):
    subscription = order(new_account(funds="10"), basic, "2026-06-01")
    with pytest.raises(PermissionRefused):
        upgrade(
            subscription,
            "2026-06-11",
            pay_with="gateway",
            gateway="test",
            ordered_by=UserFactory(),
        )


def test_confirming_needs_the_permission_and_happens_once(basic, pro):
    subscription = order(new_account(funds="10"), basic, "2026-06-01")
    request = upgrade(
        subscription, "2026-06-11", pay_with="gateway", gateway="bank_transfer"
    ).payment_request
    with pytest.raises(PermissionRefused):
        payment_request_confirm(request_id=request.pk, confirmed_by=UserFactory())
    clerk = staff_user("Billing staff")
    with on("2026-06-11", hour=15):
        payment_request_confirm(request_id=request.pk, confirmed_by=clerk)
        with pytest.raises(SubscriptionStateError, match="only a request waiting"):
            payment_request_confirm(request_id=request.pk, confirmed_by=clerk)
    assert Entry.objects.filter(idempotency_key=f"gateway:{request.pk}").count() == 1


def test_cancelling_the_request_cancels_the_waiting_change(basic, pro):
    subscription = order(new_account(funds="10"), basic, "2026-06-01")
    upsell = upgrade(subscription, "2026-06-11", pay_with="gateway", gateway="bank_transfer")
    payment_request_cancel(
        request_id=upsell.payment_request.pk,
        reason="Client changed their mind",
        cancelled_by=staff_user("Billing staff"),
    )
    assert Upsell.objects.get(pk=upsell.pk).status == "cancelled"
    assert fresh(subscription).plan == basic


def test_money_for_a_change_no_longer_possible_stays_on_the_balance(basic, pro):
    account = new_account(funds="10")
    subscription = order(account, basic, "2026-06-01")
    upsell = upgrade(subscription, "2026-06-11", pay_with="gateway", gateway="bank_transfer")
    pro.active = False
    pro.save()
    with on("2026-06-12"):
        settled = payment_request_confirm(
            request_id=upsell.payment_request.pk, confirmed_by=staff_user("Billing staff")
        )
    assert "no longer sold" in settled.outcome
    assert Upsell.objects.get(pk=upsell.pk).status == "cancelled"
    assert balance(account) == D("20")


def test_a_prepaid_account_in_debt_cannot_pay_a_change_by_gateway(basic, pro):
    from accounts.services import account_convert_mode

    account = new_account(payment_mode="postpaid")
    subscription = order(account, basic, "2026-06-01")
    account_convert_mode(account_id=account.pk, payment_mode="prepaid", reason="Ends credit")
    from billing_site.exceptions import InvalidInput

    with pytest.raises(InvalidInput, match="balance is negative"):
        upgrade(subscription, "2026-06-11", pay_with="gateway", gateway="bank_transfer")


def test_an_upgrade_to_a_plan_at_the_same_price_costs_nothing(basic):
    same = plan_create(code="basic-eu", name="Basic EU", price="10", currency="USD")
    subscription = order(new_account(funds="10"), basic, "2026-06-01")
    upsell = upgrade(subscription, "2026-06-11", to_plan=same, pay_with="gateway")
    assert (upsell.status, upsell.charged, upsell.payment_request) == ("applied", D(0), None)
