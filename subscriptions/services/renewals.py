"""The daily subscriptions step of the billing calendar (docs/design.md §3).

Run for a date, it does what that date needs and nothing twice: every decision is taken
under the account's books lock after re-reading the subscription, every charge has a
ledger key of its month, and a missed day is caught up on the next run.

1. Trials that ended start their paid period, as an order would (postpay ones pass the
   approval gate then).
2. Subscriptions suspended for non-payment in the last `AUTO_RESUME_DAYS` come back as
   soon as the account can pay: they are charged from that day on.
3. Prepay subscriptions whose paid period has ended are charged the month:
   postpaid accounts always; credit-limit accounts if usable credit allows, else the
   service is suspended (its paid period has ended); prepaid accounts from their funds,
   else a payment request for the month (the prepaid invoice) is issued while the
   balance is not negative, and the service is suspended until it is paid. Credit
   blocked in the middle of a month stops nothing: the paid month runs to its end.
4. Postpay subscriptions are charged in arrears on the 1st for the days they served
   last month (`period_start`/`period_end` in that month, so the monthly run puts the
   charge on last month's invoice). Postpaid accounts are never refused. When a
   credit-limit account's credit does not allow it (over the limit, or blocked), the
   service is suspended and the consumed days stay owed rather than lost: step 2 books
   them the day the credit allows, and the next monthly invoice bills them.
"""

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ledger.exceptions import SpendRefused

from ..exceptions import PostpaidModeRequired
from ..models import Charging, Subscription, SubscriptionStatus, SuspensionReason
from ..periods import month_end, previous_month_end, prorate
from .common import (
    bill_arrears,
    charge_prepay_period,
    lock_subscription,
    log_status,
    monthly_price,
    move,
    refused_renewal,
    resume,
    start_commercial_period,
    suspend,
    try_spend,
)
from .orders import (
    GATE_REFUSE,
    GATE_REVIEW,
    check_mode_allows,
    open_review,
    postpaid_gate,
    reactivate,
    refuse_on_blocked_credit,
)

AUTO_RESUME_DAYS = 30
ACTIVE, SUSPENDED, CANCELLED = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.SUSPENDED,
    SubscriptionStatus.CANCELLED,
)


def _ids(queryset) -> list[int]:
    return list(queryset.order_by("account_id", "id").values_list("pk", flat=True))


def subscriptions_renew(*, run_date: date) -> int:
    """Run the subscriptions step for `run_date`; returns how many subscriptions moved."""
    moved = 0
    for subscription_id in _ids(trials_ending(run_date)):
        moved += subscription_end_trial(subscription_id=subscription_id, run_date=run_date)
    for subscription_id in _ids(suspended_for_payment(run_date)):
        moved += subscription_retry(subscription_id=subscription_id, run_date=run_date)
    for subscription_id in _ids(prepay_due(run_date)):
        moved += subscription_renew_prepay(subscription_id=subscription_id, run_date=run_date)
    for subscription_id in _ids(arrears_due(run_date)):
        moved += subscription_bill_arrears(subscription_id=subscription_id, run_date=run_date)
    return moved


# -- what is due -----------------------------------------------------------------------


def trials_ending(run_date: date):
    return Subscription.objects.filter(status=ACTIVE, is_trial=True, trial_ends_on__lte=run_date)


def _retry_since(run_date: date) -> datetime:
    first = run_date - timedelta(days=AUTO_RESUME_DAYS)
    return timezone.make_aware(datetime.combine(first, time.min))


def suspended_for_payment(run_date: date):
    return Subscription.objects.filter(
        status=SUSPENDED,
        suspension_reason=SuspensionReason.NON_PAYMENT,
        suspended_at__gte=_retry_since(run_date),
    )


def prepay_due(run_date: date):
    return Subscription.objects.filter(
        status=ACTIVE, is_trial=False, plan__charging=Charging.PREPAY, paid_until__lt=run_date
    )


def arrears_due(run_date: date):
    return Subscription.objects.filter(
        Q(status=ACTIVE, is_trial=False)
        | Q(status__in=[SUSPENDED, CANCELLED], service_ended_on__gt=F("paid_until")),
        plan__charging=Charging.POSTPAY,
        paid_until__lt=previous_month_end(run_date),
    )


# -- one subscription each, in its own transaction -----------------------------------------


def subscription_end_trial(*, subscription_id: int, run_date: date) -> int:
    """The trial is over: the paid period starts on `trial_ends_on`, as an order would."""
    with transaction.atomic():
        row, subscription = lock_subscription(subscription_id)
        if not (
            subscription.status == ACTIVE
            and subscription.is_trial
            and subscription.trial_ends_on <= run_date
        ):
            return 0
        on = subscription.trial_ends_on
        plan = subscription.plan
        if plan.charging == Charging.PREPAY:
            refusal = try_spend(start_commercial_period, subscription, on)
            if refusal is None:
                log_status(subscription, ACTIVE, reason=f"Trial ended; paid from {on:%d %b %Y}.")
            else:
                subscription.is_trial = False
                subscription.paid_until = on - timedelta(days=1)
                refused_renewal(
                    subscription,
                    row,
                    refusal,
                    period_start=on,
                    amount=prorate(monthly_price(subscription, on), on, month_end(on)),
                )
            return 1
        # Postpay: the trial days are never billed.
        subscription.paid_until = on - timedelta(days=1)
        try:
            check_mode_allows(row.account, plan)
        except PostpaidModeRequired as refusal:
            gate, why = GATE_REFUSE, refusal.detail
        else:
            gate, why = (
                postpaid_gate(row.account),
                "the account may not have postpaid subscriptions.",
            )
        if gate == GATE_REVIEW:
            before = move(subscription, "await_approval", refusal="the trial already ended.")
            subscription.save()
            open_review(subscription)
            log_status(
                subscription,
                before,
                reason="Trial ended; the account's first postpaid order waits for a manager.",
            )
            return 1
        subscription.is_trial = False
        if gate == GATE_REFUSE:
            suspend(
                subscription,
                reason_code=SuspensionReason.NOT_ALLOWED,
                reason=f"Trial ended; {why}",
                service_ended_on=subscription.paid_until,
            )
            return 1
        try:
            refuse_on_blocked_credit(row.account, plan)
        except SpendRefused as refusal:
            # Comes back by itself once the credit is unblocked (step 2).
            suspend(
                subscription,
                reason_code=SuspensionReason.NON_PAYMENT,
                reason=f"Trial ended; {refusal.detail}",
                service_ended_on=subscription.paid_until,
            )
            return 1
        start_commercial_period(subscription, on)
        log_status(subscription, ACTIVE, reason=f"Trial ended; billed in arrears from {on}.")
        return 1


def subscription_retry(*, subscription_id: int, run_date: date) -> int:
    """A subscription suspended for non-payment comes back once the account can pay."""
    with transaction.atomic():
        row, subscription = lock_subscription(subscription_id)
        if not (
            subscription.status == SUSPENDED
            and subscription.suspension_reason == SuspensionReason.NON_PAYMENT
        ):
            return 0
        if subscription.plan.charging == Charging.POSTPAY:
            try:
                check_mode_allows(row.account, subscription.plan)
            except PostpaidModeRequired:
                return 0  # a prepaid account now: it stays suspended
        if try_spend(reactivate, subscription, run_date) is not None:
            return 0
        resume(subscription, reason="The account can pay again: charged from the balance.")
        return 1


def subscription_renew_prepay(*, subscription_id: int, run_date: date) -> int:
    """Charge every month from the end of the paid period up to `run_date`'s month."""
    with transaction.atomic():
        row, subscription = lock_subscription(subscription_id)
        if not (
            subscription.status == ACTIVE
            and not subscription.is_trial
            and subscription.plan.charging == Charging.PREPAY
            and subscription.paid_until < run_date
        ):
            return 0
        while subscription.paid_until < run_date:
            start = subscription.paid_until + timedelta(days=1)
            refusal = try_spend(charge_prepay_period, subscription, start)
            if refusal is not None:
                amount = prorate(monthly_price(subscription, start), start, month_end(start))
                refused_renewal(subscription, row, refusal, period_start=start, amount=amount)
                break
        return 1


def subscription_bill_arrears(*, subscription_id: int, run_date: date) -> int:
    """Charge a postpay subscription in arrears for the days it served before this month."""
    last_month_end = previous_month_end(run_date)
    with transaction.atomic():
        _, subscription = lock_subscription(subscription_id)
        if subscription.plan.charging != Charging.POSTPAY or subscription.paid_until is None:
            return 0
        if subscription.status == ACTIVE and not subscription.is_trial:
            through = last_month_end
        elif subscription.status in (SUSPENDED, CANCELLED) and subscription.service_ended_on:
            through = min(last_month_end, subscription.service_ended_on)
        else:
            return 0
        if subscription.paid_until >= through:
            return 0
        before = subscription.paid_until
        try:
            bill_arrears(subscription, through)
        except SpendRefused as refusal:
            if subscription.status != ACTIVE:
                # Already stopped: the days it served stay owed; tried again each day.
                return int(subscription.paid_until != before)
            suspend(
                subscription,
                reason_code=SuspensionReason.NON_PAYMENT,
                reason=f"Arrears up to {through:%d %b %Y} refused: {refusal.detail} "
                "They are charged as soon as the account can pay.",
                service_ended_on=run_date - timedelta(days=1),
            )
        return 1
