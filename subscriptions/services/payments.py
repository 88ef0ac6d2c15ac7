"""Payment requests: money asked for through a gateway, and what happens when it arrives.

Settling a request is one transaction under the account's books lock: the money is
booked (`ledger_receive_payment`, key `gateway:<id>`, so it is never booked twice), then
the purpose is fulfilled in a savepoint. If the purpose can no longer be fulfilled
(the subscription was cancelled, the balance still does not cover the renewal), the
money stays on the balance and the request says what happened.
"""

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from billing_site.exceptions import DomainError, InvalidInput, NotFound, require_perm
from ledger.services import ledger_receive_payment, lock_books

from ..exceptions import SubscriptionStateError
from ..gateways import get_gateway
from ..models import (
    CONFIRM_PERMISSION,
    PaymentPurpose,
    PaymentRequest,
    PaymentRequestStatus,
    Subscription,
    SubscriptionStatus,
    SuspensionReason,
    UpsellStatus,
)
from ..periods import payable
from .common import resume, today

RENEWAL_GATEWAY = "bank_transfer"


def open_request(
    subscription: Subscription,
    *,
    purpose: str,
    amount: Decimal,
    gateway: str,
    period_start: date | None = None,
    idempotency_key: str | None = None,
) -> PaymentRequest:
    """Create a pending request and start it at its gateway (the books are locked).

    The amount asked for is rounded up to the currency's minor unit (nobody can transfer
    a fraction of a cent); what the purpose does not use stays on the balance.
    """
    handler = get_gateway(gateway)
    currency = subscription.account.currency
    amount = payable(amount, currency)
    if amount <= 0:
        raise InvalidInput("There is nothing to pay.", field="amount")
    request = PaymentRequest.objects.create(
        account_id=subscription.account_id,
        subscription=subscription,
        purpose=purpose,
        gateway=handler.name,
        amount=amount,
        currency=currency,
        period_start=period_start,
        idempotency_key=idempotency_key,
    )
    request.reference = f"PR-{request.pk:06d}"
    request.instructions = handler.start(request) or ""
    request.save(update_fields=["reference", "instructions"])
    return request


def open_renewal_request(
    subscription: Subscription, *, period_start: date, amount: Decimal
) -> PaymentRequest:
    """The prepaid invoice for a month the balance could not renew (one per month)."""
    key = f"subscription:{subscription.pk}:renewal-request:{period_start:%Y-%m}"
    existing = PaymentRequest.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    return open_request(
        subscription,
        purpose=PaymentPurpose.RENEWAL,
        amount=amount,
        gateway=RENEWAL_GATEWAY,
        period_start=period_start,
        idempotency_key=key,
    )


def lock_request(request_id: int) -> PaymentRequest:
    account_id = (
        PaymentRequest.objects.filter(pk=request_id).values_list("account_id", flat=True).first()
    )
    if account_id is None:
        raise NotFound(f"Payment request {request_id} does not exist.", field="payment_request")
    lock_books(account_id)
    return PaymentRequest.objects.select_related("subscription__plan", "account").get(pk=request_id)


def _not_pending(request: PaymentRequest) -> SubscriptionStateError:
    return SubscriptionStateError(
        f"Payment request {request.reference} is {request.get_status_display().lower()}; "
        "only a request waiting for the money can be settled or cancelled.",
        field="status",
    )


def settle(request: PaymentRequest, *, by=None) -> PaymentRequest:
    """The money of a pending request arrived: book it, then fulfil the purpose."""
    try:
        request.succeed(by=by, when=timezone.now())
    except TransitionNotAllowed:
        raise _not_pending(request) from None
    request.save()  # succeeded before fulfilling, so nothing fulfilled withdraws it
    booking = ledger_receive_payment(
        account_id=request.account_id,
        amount=request.amount,
        idempotency_key=f"gateway:{request.pk}",
        reference=f"{request.reference} via {get_gateway(request.gateway).label}",
        created_by=by,
    )
    request.payment_entry = booking.entry
    try:
        with transaction.atomic():
            request.outcome = _fulfil(request, by=by)
    except DomainError as refusal:
        request.outcome = f"Money kept on the balance: {refusal.detail}"
        if request.purpose == PaymentPurpose.UPSELL:
            _cancel_upsell(request, note=request.outcome)
    request.save()
    return request


def _fulfil(request: PaymentRequest, *, by=None) -> str:
    if request.purpose == PaymentPurpose.UPSELL:
        from .changes import apply_upsell  # changes builds on this module's callers

        upsell = request.upsell
        apply_upsell(upsell, on=today(), by=by)
        return f"Applied: {upsell}; {upsell.charged} {request.currency} charged."
    subscription = Subscription.objects.select_related("plan", "period_plan").get(
        pk=request.subscription_id
    )
    if not (
        subscription.status == SubscriptionStatus.SUSPENDED
        and subscription.suspension_reason == SuspensionReason.NON_PAYMENT
    ):
        return (
            f"Subscription #{subscription.pk} is {subscription.get_status_display().lower()}; "
            "the money stays on the balance."
        )
    from .orders import reactivate

    reactivate(subscription, today(), by=by)
    resume(subscription, reason=f"Renewal paid ({request.reference}).", by=by)
    return f"Subscription #{subscription.pk} renewed and running again."


def _cancel_upsell(request: PaymentRequest, *, note: str) -> None:
    upsell = getattr(request, "upsell", None)
    if upsell is not None and upsell.status == UpsellStatus.PENDING_PAYMENT:
        upsell.cancel(note=note)
        upsell.save()


def withdraw_request(request: PaymentRequest, *, reason: str) -> None:
    """Cancel a pending request (the books are locked) and the upsell waiting on it."""
    request.cancel(reason=reason, when=timezone.now())
    request.save()
    _cancel_upsell(request, note=reason)


def payment_request_confirm(*, request_id: int, confirmed_by) -> PaymentRequest:
    """Staff confirm that the money of a request arrived (a bank transfer, say)."""
    require_perm(confirmed_by, CONFIRM_PERMISSION, "confirm money received")
    with transaction.atomic():
        request = lock_request(request_id)
        if request.status == PaymentRequestStatus.PENDING and not request.confirmed_by_staff:
            raise InvalidInput(
                f"Payment request {request.reference} is paid through "
                f"{get_gateway(request.gateway).label}, which reports the money itself.",
                field="payment_request",
            )
        return settle(request, by=confirmed_by)


def payment_request_cancel(*, request_id: int, reason: str, cancelled_by) -> PaymentRequest:
    """Withdraw a request that will not be paid; its upsell is cancelled with it."""
    require_perm(cancelled_by, CONFIRM_PERMISSION, "cancel payment requests")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the request is cancelled.", field="reason")
    with transaction.atomic():
        request = lock_request(request_id)
        if request.status != PaymentRequestStatus.PENDING:
            raise _not_pending(request)
        withdraw_request(request, reason=reason)
    return request
