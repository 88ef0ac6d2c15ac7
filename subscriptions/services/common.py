"""What orders, renewals, upsells and payments share: locking, logging, charging a period.

Lock order: the account's books (`lock_books`) first, then whatever the service reads
of its subscriptions. Every subscription write happens under that lock, so reads made
after taking it are current, and a decision about a subscription never interleaves with
a spend, a mode change or a credit block on its account.
"""

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from accounts.models import PaymentMode
from billing_site.exceptions import NotFound
from billing_site.money import ZERO
from ledger.exceptions import SpendRefused
from ledger.models import Balance, EntryKind
from ledger.services import ledger_charge, lock_books

from ..exceptions import SubscriptionStateError
from ..models import (
    Charging,
    PaymentRequest,
    PaymentRequestStatus,
    Subscription,
    SubscriptionAddOn,
    SubscriptionStatusChange,
    SuspensionReason,
)
from ..periods import month_end, month_spans, month_start, prorate


def today() -> date:
    return timezone.localdate()


def lock_subscription(subscription_id: int) -> tuple[Balance, Subscription]:
    """Lock the books of the subscription's account, then read the subscription."""
    account_id = (
        Subscription.objects.filter(pk=subscription_id).values_list("account_id", flat=True).first()
    )
    if account_id is None:
        raise NotFound(f"Subscription {subscription_id} does not exist.", field="subscription")
    row = lock_books(account_id)
    subscription = Subscription.objects.select_related("plan", "period_plan").get(
        pk=subscription_id
    )
    subscription.account = row.account
    return row, subscription


def log_status(subscription: Subscription, before: str, *, by=None, reason: str = "") -> None:
    SubscriptionStatusChange.objects.create(
        subscription=subscription,
        from_status=before,
        to_status=subscription.status,
        changed_by=by,
        reason=reason[:2000],
    )


def move(subscription: Subscription, method: str, *, refusal: str, **kwargs) -> str:
    """Call a status transition; a move the state does not allow is a 409 with `refusal`."""
    before = subscription.status
    try:
        getattr(subscription, method)(**kwargs)
    except TransitionNotAllowed:
        raise SubscriptionStateError(
            f"Subscription #{subscription.pk} is {subscription.get_status_display().lower()}: "
            f"{refusal}",
            field="status",
        ) from None
    return before


def add_ons_billed(subscription: Subscription, day: date) -> list[SubscriptionAddOn]:
    """Add-ons the regular monthly charge covers on `day`."""
    return [a for a in subscription.add_ons.select_related("add_on") if a.billed_from <= day]


def roll_period(subscription: Subscription) -> None:
    """A new month begins: the current plan and today's catalogue prices are in force."""
    plan = subscription.plan
    subscription.period_plan = plan
    subscription.plan_price = plan.price
    subscription.period_price = plan.price
    for bought in subscription.add_ons.select_related("add_on"):
        if bought.price != bought.add_on.price:
            bought.price = bought.add_on.price
            bought.save(update_fields=["price"])


def _describe(name: str, start: date, end: date, suffix: str = "") -> str:
    return f"{name}: {start:%d %b} – {end:%d %b %Y}{suffix}"


def charge_prepay_period(subscription: Subscription, start: date, *, by=None) -> Decimal:
    """Charge a prepay subscription for `start` to the end of its month (prorated).

    The plan and add-ons are charged at today's catalogue prices, which become the
    period's prices. One ledger key per subscription and month, so whatever path
    charges a month (order, renewal, reactivation) can never charge it twice. Refusals
    by the payment mode (`SpendRefused`) propagate with nothing changed.
    """
    end = month_end(start)
    add_ons = add_ons_billed(subscription, start)
    monthly = subscription.plan.price + sum((a.add_on.price for a in add_ons), ZERO)
    amount = prorate(monthly, start, end)
    if amount > 0:
        names = " + ".join([subscription.plan.name, *(a.add_on.name for a in add_ons)])
        ledger_charge(
            account_id=subscription.account_id,
            amount=amount,
            idempotency_key=f"subscription:{subscription.pk}:renewal:{start:%Y-%m}",
            description=_describe(names, start, end),
            kind=EntryKind.RENEWAL,
            period_start=start,
            period_end=end,
            created_by=by,
        )
    roll_period(subscription)
    subscription.paid_until = end
    subscription.save()
    return amount


def arrears_key(subscription: Subscription, start: date, end: date) -> str:
    if end == month_end(start):
        return f"subscription:{subscription.pk}:arrears:{start:%Y-%m}"
    # Part of a month (the service stopped before its end): one key per span.
    return f"subscription:{subscription.pk}:arrears:{start:%Y-%m}:to:{end:%d}"


def bill_arrears(subscription: Subscription, through: date, *, by=None) -> int:
    """Charge a postpay subscription for the days after `paid_until` up to `through`.

    Month by month, each at the prices in force when that month began; every month
    billed to its end starts the next period. Each month is saved as soon as it is
    booked, so a refusal (`SpendRefused`, propagated) keeps the months before it.
    Returns how many charges were booked.
    """
    booked = 0
    if subscription.paid_until is None or subscription.paid_until >= through:
        return booked
    for start, end in month_spans(subscription.paid_until + timedelta(days=1), through):
        add_ons = add_ons_billed(subscription, start)
        monthly = subscription.period_price + sum((a.price for a in add_ons), ZERO)
        amount = prorate(monthly, start, end)
        if amount > 0:
            names = " + ".join([subscription.period_plan.name, *(a.add_on.name for a in add_ons)])
            ledger_charge(
                account_id=subscription.account_id,
                amount=amount,
                idempotency_key=arrears_key(subscription, start, end),
                description=_describe(names, start, end, " (in arrears)"),
                kind=EntryKind.RENEWAL,
                period_start=start,
                period_end=end,
                created_by=by,
            )
            booked += 1
        subscription.paid_until = end
        if end == month_end(end):
            roll_period(subscription)
        subscription.save()
    return booked


def skip_unserved_days(subscription: Subscription, first_served: date) -> None:
    """Postpay: days before `first_served` not yet billed were not served; never bill them."""
    if subscription.paid_until is None or subscription.paid_until < first_served - timedelta(
        days=1
    ):
        old_month = (
            month_start(subscription.paid_until + timedelta(days=1))
            if subscription.paid_until
            else None
        )
        subscription.paid_until = first_served - timedelta(days=1)
        if old_month is not None and month_start(first_served) != old_month:
            roll_period(subscription)
        subscription.save()


def start_commercial_period(subscription: Subscription, on: date, *, by=None) -> Decimal:
    """The paid service begins on `on`: a prepay plan charges the rest of the month now
    (refusals propagate), a postpay plan is billed in arrears from `on`."""
    subscription.is_trial = False
    if subscription.plan.charging == Charging.PREPAY:
        return charge_prepay_period(subscription, on, by=by)
    subscription.paid_until = on - timedelta(days=1)
    roll_period(subscription)
    subscription.save()
    return ZERO


def suspend(
    subscription: Subscription,
    *,
    reason_code: str,
    reason: str,
    service_ended_on: date | None,
    by=None,
) -> None:
    before = move(
        subscription,
        "suspend",
        refusal="only an active subscription can be suspended.",
        reason_code=reason_code,
        service_ended_on=service_ended_on,
        when=timezone.now(),
    )
    subscription.save()
    log_status(subscription, before, by=by, reason=reason)


def resume(subscription: Subscription, *, reason: str, by=None) -> None:
    before = move(subscription, "resume", refusal="only a suspended subscription can be resumed.")
    subscription.save()
    log_status(subscription, before, by=by, reason=reason)
    cancel_open_requests(
        subscription, reason="Superseded: the subscription was resumed.", purpose="renewal"
    )


def cancel_open_requests(subscription: Subscription, *, reason: str, purpose=None) -> int:
    """Withdraw the subscription's pending payment requests (and their upsells)."""
    from .payments import withdraw_request  # payments builds on this module

    pending = PaymentRequest.objects.filter(
        subscription=subscription, status=PaymentRequestStatus.PENDING
    )
    if purpose:
        pending = pending.filter(purpose=purpose)
    count = 0
    for request in pending:
        withdraw_request(request, reason=reason)
        count += 1
    return count


def try_spend(fn, *args, **kwargs):
    """Run a charging step in a savepoint; a refusal by the payment mode returns it."""
    try:
        with transaction.atomic():
            fn(*args, **kwargs)
    except SpendRefused as refusal:
        return refusal
    return None


def refused_renewal(
    subscription: Subscription,
    row: Balance,
    refusal: SpendRefused,
    *,
    period_start: date,
    amount: Decimal,
    by=None,
) -> None:
    """A prepay period could not be charged: suspend, and for a prepaid account whose
    balance is not negative, ask for the month through a payment request (the prepaid
    invoice). Its paid period has ended, so the service stops now."""
    detail = f"Renewal for {period_start:%B %Y} refused: {refusal.detail}"
    account = row.account
    if account.payment_mode == PaymentMode.PREPAID:
        # Read again: months charged earlier in this run moved the balance.
        balance = Balance.objects.get(account_id=account.pk).balance
        if balance >= 0 and amount > 0:
            from .payments import open_renewal_request

            request = open_renewal_request(subscription, period_start=period_start, amount=amount)
            detail += (
                f" Payment request {request.reference} issued for {amount} {request.currency}."
            )
        else:
            detail += " No prepaid invoice is issued while the balance is negative."
    suspend(
        subscription,
        reason_code=SuspensionReason.NON_PAYMENT,
        reason=detail,
        service_ended_on=subscription.paid_until,
        by=by,
    )


def monthly_price(subscription: Subscription, day: date) -> Decimal:
    """Today's catalogue price of the plan and the add-ons billed on `day`."""
    return subscription.plan.price + sum(
        (a.add_on.price for a in add_ons_billed(subscription, day)), ZERO
    )
