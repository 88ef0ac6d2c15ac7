"""Ordering, the approval seam, and what staff do by hand (suspend, resume, cancel).

An order is decided under the account's books lock, so the payment mode, the postpaid
permission and the funds it reads cannot change before it is booked.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import BillingAccount, CreditStatus, PaymentMode
from billing_site.exceptions import InvalidInput, require_perm
from ledger.exceptions import CreditBlocked
from ledger.services import lock_books

from ..exceptions import NotOrderable, PostpaidModeRequired, SubscriptionStateError
from ..models import (
    MANAGE_PERMISSION,
    Charging,
    Plan,
    Subscription,
    SubscriptionStatus,
    SuspensionReason,
)
from ..periods import month_end
from .common import (
    bill_arrears,
    cancel_open_requests,
    charge_prepay_period,
    lock_subscription,
    log_status,
    move,
    resume,
    skip_unserved_days,
    start_commercial_period,
    suspend,
    today,
)

GATE_PASS, GATE_REVIEW, GATE_REFUSE = "pass", "review", "refuse"


def find_plan(plan) -> Plan:
    """A plan by code (or the plan itself), refused if unknown or no longer sold."""
    if isinstance(plan, Plan):
        found = plan
    else:
        found = Plan.objects.filter(code=(plan or "").strip()).first()
        if found is None:
            raise InvalidInput(f"There is no plan with the code {plan!r}.", field="plan")
    if not found.active:
        raise NotOrderable(f"Plan {found.code} is no longer sold.", field="plan")
    return found


def check_mode_allows(account: BillingAccount, plan: Plan) -> None:
    if plan.charging == Charging.POSTPAY and account.payment_mode == PaymentMode.PREPAID:
        raise PostpaidModeRequired(
            f"Plan {plan.code} is charged in arrears (postpay), which a prepaid account "
            "cannot order: convert the account to postpaid or credit limit first.",
            field="plan",
        )


def _check_orderable(account: BillingAccount, plan: Plan, trial: bool) -> None:
    if not plan.sold_in(account.currency):
        raise NotOrderable(
            f"Plan {plan.code} is priced in {plan.currency}; the account keeps its books in "
            f"{account.currency}.",
            field="plan",
        )
    check_mode_allows(account, plan)
    if trial:
        if not plan.trial_days:
            raise NotOrderable(f"Plan {plan.code} has no trial period.", field="trial")
        # `trial_ends_on` stays set after a trial ends, so it marks every trial ever had.
        if Subscription.objects.filter(
            account=account, plan=plan, trial_ends_on__isnull=False
        ).exists():
            raise NotOrderable(
                f"The account already had a trial of plan {plan.code}; order it without a trial.",
                field="trial",
            )


def refuse_on_blocked_credit(account: BillingAccount, plan: Plan) -> None:
    """A postpay service is consumed on credit: none is started while credit is blocked."""
    if account.credit_status == CreditStatus.BLOCKED:
        lifted_by = (
            "paying the overdue invoices"
            if account.credit_blocked_by_overdue
            else "the billing team"
        )
        raise CreditBlocked(
            f"The account's credit is blocked: {account.credit_block_why} Plan {plan.code} is "
            f"charged in arrears and cannot start until the credit is unblocked (by {lifted_by}).",
            field="plan",
        )


def postpaid_gate(account: BillingAccount) -> str:
    """docs/design.md §5 for a commercial postpay order: pass, review (hold it) or refuse."""
    from approvals.services import postpaid_order_gate  # approvals calls back into us

    return str(postpaid_order_gate(account=account))


def open_review(subscription: Subscription, *, by=None) -> None:
    from approvals.services import manual_operation_open_postpaid

    manual_operation_open_postpaid(account_id=subscription.account_id, requested_by=by)


def under_review():
    from approvals.exceptions import UnderReview

    return UnderReview()


def subscription_order(
    *, account_id: int, plan, trial: bool = False, ordered_by=None
) -> Subscription:
    """Order a plan for an account (docs/design.md §3, §5).

    Trial: active at once, nothing charged. Prepay plan: the rest of this month is
    charged now (a prepaid account only from its funds; the ledger's refusal
    propagates and nothing is created). Postpay plan: only for postpaid and
    credit-limit accounts, nothing charged now, billed in arrears on the 1st; in manual
    approval mode the account's first commercial postpay order waits for a manager
    (`pending_approval`), and while the account is under review or declined the order
    is refused with `UnderReview`.
    """
    plan = find_plan(plan)
    trial = bool(trial)
    on = today()
    now = timezone.now()
    with transaction.atomic():
        row = lock_books(account_id)
        account = row.account
        _check_orderable(account, plan, trial)
        gate = GATE_PASS
        if plan.charging == Charging.POSTPAY and not trial:
            refuse_on_blocked_credit(account, plan)
            gate = postpaid_gate(account)
            if gate == GATE_REFUSE:
                raise under_review()
        waiting = gate == GATE_REVIEW
        subscription = Subscription.objects.create(
            account=account,
            plan=plan,
            plan_price=plan.price,
            period_plan=plan,
            period_price=plan.price,
            status=SubscriptionStatus.PENDING_APPROVAL if waiting else SubscriptionStatus.ACTIVE,
            is_trial=trial,
            trial_ends_on=on + timedelta(days=plan.trial_days) if trial else None,
            ordered_by=ordered_by,
            activated_at=None if waiting else now,
        )
        if waiting:
            open_review(subscription, by=ordered_by)
            reason = "Ordered; the account's first postpaid order waits for a manager."
        elif trial:
            reason = (
                f"Ordered with a {plan.trial_days}-day trial; the paid period starts on "
                f"{subscription.trial_ends_on:%d %b %Y}."
            )
        else:
            amount = start_commercial_period(subscription, on, by=ordered_by)
            reason = (
                f"Ordered; {amount} {account.currency} charged for {on:%d %b} – "
                f"{month_end(on):%d %b %Y}."
                if plan.charging == Charging.PREPAY
                else "Ordered; charged in arrears on the 1st."
            )
        log_status(subscription, "", by=ordered_by, reason=reason)
    return subscription


# -- the approval seam (called inside the manual operation's decision) -----------------


def subscriptions_provision_waiting(*, account_id: int, provisioned_by=None) -> list[Subscription]:
    """Every subscription of the account waiting for approval starts, as if just ordered.

    Postpay subscriptions (the only ones that wait) charge nothing now; should a prepay
    one ever wait, its refusal for funds propagates and the decision is not taken.
    """
    on = today()
    with transaction.atomic():
        lock_books(account_id)
        waiting = list(
            Subscription.objects.select_related("plan", "period_plan", "account")
            .filter(account_id=account_id, status=SubscriptionStatus.PENDING_APPROVAL)
            .order_by("id")
        )
        for subscription in waiting:
            before = move(
                subscription,
                "activate",
                refusal="only a subscription waiting for approval can be provisioned.",
                when=timezone.now(),
            )
            start_commercial_period(subscription, on, by=provisioned_by)
            log_status(
                subscription,
                before,
                by=provisioned_by,
                reason="The account was approved for postpaid subscriptions.",
            )
    return waiting


def subscriptions_cancel_waiting(
    *, account_id: int, reason: str, cancelled_by=None
) -> list[Subscription]:
    """Every subscription of the account waiting for approval is cancelled."""
    with transaction.atomic():
        lock_books(account_id)
        waiting = list(
            Subscription.objects.select_related("plan")
            .filter(account_id=account_id, status=SubscriptionStatus.PENDING_APPROVAL)
            .order_by("id")
        )
        for subscription in waiting:
            before = move(
                subscription,
                "cancel",
                refusal="only a waiting subscription is cancelled here.",
                service_ended_on=None,
                when=timezone.now(),
            )
            subscription.save()
            log_status(subscription, before, by=cancelled_by, reason=reason)
    return waiting


# -- by hand -------------------------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why; it is kept in the subscription's history.", field="reason")
    return reason


def subscription_suspend(*, subscription_id: int, reason: str, suspended_by=None) -> Subscription:
    """Stop an active service now. Nothing is refunded; a postpay service is billed in
    arrears up to yesterday."""
    require_perm(suspended_by, MANAGE_PERMISSION, "suspend subscriptions")
    reason = _reason(reason)
    with transaction.atomic():
        _, subscription = lock_subscription(subscription_id)
        suspend(
            subscription,
            reason_code=SuspensionReason.STAFF,
            reason=reason,
            service_ended_on=today() - timedelta(days=1),
            by=suspended_by,
        )
    return subscription


def subscription_resume(*, subscription_id: int, reason: str, resumed_by=None) -> Subscription:
    """Start a suspended service again, charging what an order would.

    Prepay: a period that already ended is charged again from today to the month's end
    (a refusal for funds refuses the resume). Postpay: days served before the
    suspension and not billed yet are billed now; the suspended days never are.
    """
    require_perm(resumed_by, MANAGE_PERMISSION, "resume subscriptions")
    reason = _reason(reason)
    on = today()
    with transaction.atomic():
        _, subscription = lock_subscription(subscription_id)
        if subscription.status != SubscriptionStatus.SUSPENDED:
            raise SubscriptionStateError(
                f"Subscription #{subscription.pk} is "
                f"{subscription.get_status_display().lower()}: only a suspended subscription "
                "can be resumed.",
                field="status",
            )
        if subscription.plan.charging == Charging.POSTPAY:
            check_mode_allows(subscription.account, subscription.plan)
            if (
                subscription.suspension_reason == SuspensionReason.NOT_ALLOWED
                and postpaid_gate(subscription.account) != GATE_PASS
            ):
                raise SubscriptionStateError(
                    "The account is not approved for postpaid subscriptions; its manual "
                    "operation must be approved before this subscription can run.",
                    field="status",
                )
        reactivate(subscription, on, by=resumed_by)
        resume(subscription, reason=reason, by=resumed_by)
    return subscription


def reactivate(subscription: Subscription, on, *, by=None) -> None:
    """Charge what restarting the service on `on` needs; refusals propagate."""
    if subscription.plan.charging == Charging.PREPAY:
        if subscription.paid_until is None or subscription.paid_until < on:
            charge_prepay_period(subscription, on, by=by)
        return
    refuse_on_blocked_credit(subscription.account, subscription.plan)
    if subscription.service_ended_on is not None:
        bill_arrears(
            subscription, min(subscription.service_ended_on, on - timedelta(days=1)), by=by
        )
    skip_unserved_days(subscription, on)


def subscription_cancel(*, subscription_id: int, reason: str, cancelled_by=None) -> Subscription:
    """End a subscription for good. A prepay period already paid is not refunded; a
    postpay one is billed in arrears up to yesterday on the next 1st."""
    require_perm(cancelled_by, MANAGE_PERMISSION, "cancel subscriptions")
    reason = _reason(reason)
    with transaction.atomic():
        _, subscription = lock_subscription(subscription_id)
        ended = subscription.service_ended_on
        if subscription.status == SubscriptionStatus.ACTIVE:
            ended = today() - timedelta(days=1)
        before = move(
            subscription,
            "cancel",
            refusal="it is already cancelled.",
            service_ended_on=ended,
            when=timezone.now(),
        )
        subscription.save()
        log_status(subscription, before, by=cancelled_by, reason=reason)
        cancel_open_requests(subscription, reason="The subscription was cancelled.")
    return subscription
