"""Payment requests: money asked for through a gateway, and what happens when it arrives.

Settling a request is one transaction under the account's books lock: the money is
booked (`ledger_receive_payment`, key `gateway:<id>`, so it is never booked twice), then
the purpose is fulfilled in a savepoint. If the purpose can no longer be fulfilled
(the subscription was cancelled, the balance still does not cover the renewal), the
money stays on the balance and the request says what happened. An invoice request is
the exception to "book, then fulfil": its money is applied to that invoice first
(`receive_money_for_invoice`, shared with the ERP's payment approval), and an invoice the
ERP billed in another figure books the platform's outstanding, never a foreign amount.
"""

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from accounts.models import BillingAccount
from billing_site.exceptions import DomainError, InvalidInput, NotFound, require_perm
from billing_site.money import round_up_to_minor_unit
from invoicing.exceptions import InvoiceStateError
from invoicing.models import UNPAID_STATUSES, Invoice, Payment, PaymentStatus
from invoicing.services.lifecycle import lock_invoice, receive_money_for_invoice
from ledger.services import ledger_receive_payment, lock_books, positive_amount

from ..exceptions import SubscriptionStateError
from ..gateways import gateway_label, get_gateway
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
    subscription: Subscription | None = None,
    *,
    purpose: str,
    amount: Decimal,
    gateway: str,
    period_start: date | None = None,
    idempotency_key: str | None = None,
    account: BillingAccount | None = None,
    invoice: Invoice | None = None,
    currency: str | None = None,
) -> PaymentRequest:
    """Create a pending request and start it at its gateway (the books are locked).

    The amount asked for is rounded up to the currency's minor unit (nobody can transfer
    a fraction of a cent); what the purpose does not use stays on the balance.
    """
    handler = get_gateway(gateway)
    account = account or subscription.account
    currency = currency or account.currency
    amount = payable(amount, currency)
    if amount <= 0:
        raise InvalidInput("There is nothing to pay.", field="amount")
    request = PaymentRequest.objects.create(
        account_id=account.pk,
        subscription=subscription,
        invoice=invoice,
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
    if request.purpose == PaymentPurpose.INVOICE:
        request.payment_entry, request.outcome = _settle_invoice(request, by=by)
        request.save()
        return request
    booking = ledger_receive_payment(
        account_id=request.account_id,
        amount=request.amount,
        idempotency_key=f"gateway:{request.pk}",
        reference=f"{request.reference} via {gateway_label(request.gateway)}",
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


def _settle_invoice(request: PaymentRequest, *, by=None):
    """Book the money of an invoice request, paying THIS invoice first.

    When the ERP billed another total or currency, the money arrived in that figure
    outside the platform's books: the invoice is completed as `payment_approve` does,
    booking the platform's outstanding. Returns (ledger entry or None, outcome).
    """
    invoice = Invoice.objects.select_for_update().get(pk=request.invoice_id)
    reference = f"{request.reference} via {gateway_label(request.gateway)}"
    unpaid = invoice.status in UNPAID_STATUSES and invoice.outstanding > 0
    if request.currency != invoice.currency or not invoice.payable_from_balance:
        if not unpaid:
            return None, (
                f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: nothing "
                f"was booked; the {request.amount} {request.currency} received are to be "
                "refunded."
            )
        amount = invoice.outstanding
    else:
        amount = request.amount
    booking = receive_money_for_invoice(
        invoice,
        amount,
        idempotency_key=f"gateway:{request.pk}",
        reference=reference,
        reason=f"{reference}; paid.",
        by=by,
    )
    if not unpaid:
        return booking.entry, (
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: the money "
            "stays on the balance."
        )
    return booking.entry, f"Invoice {invoice.number} {invoice.get_status_display().lower()}."


def _fulfil(request: PaymentRequest, *, by=None) -> str:
    if request.purpose == PaymentPurpose.TOP_UP:
        return "Added to the balance."
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
                f"{gateway_label(request.gateway)}, which reports the money itself.",
                field="payment_request",
            )
        return settle(request, by=confirmed_by)


def _check_gateway(gateway: str, requested_by):
    handler = get_gateway(gateway)
    if handler.settles_at_once:
        # Paying through a gateway that settles at once books money nobody sent.
        require_perm(requested_by, CONFIRM_PERMISSION, f"pay through the {handler.name} gateway")
    return handler


def _start(request: PaymentRequest, handler, *, by) -> PaymentRequest:
    if handler.settles_at_once:
        settle(request, by=by)
    return request


def payment_request_for_invoice(
    *, invoice_id: int, gateway: str, requested_by, idempotency_key: str | None = None
) -> PaymentRequest:
    """Ask for the money of an approved or overdue invoice through a gateway.

    The amount is the invoice's outstanding rounded up to the minor unit, or, when the
    ERP billed another total or currency, that external total: then the client cannot
    pay from balance, and the money received completes the invoice as the ERP's payment
    approval does. A request already waiting for this invoice at this gateway is
    returned rather than asked twice.
    """
    handler = _check_gateway(gateway, requested_by)
    with transaction.atomic():
        _, invoice = lock_invoice(invoice_id)
        if idempotency_key:
            existing = PaymentRequest.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.invoice_id != invoice.pk:
                    raise InvalidInput(
                        "This idempotency key was used for another request.",
                        field="idempotency_key",
                    )
                return existing
        amount, currency = _invoice_amount(invoice)
        waiting = PaymentRequest.objects.filter(
            invoice=invoice,
            gateway=handler.name,
            status=PaymentRequestStatus.PENDING,
            amount=round_up_to_minor_unit(amount, currency),
            currency=currency,
        ).first()
        if waiting is not None:
            return waiting
        request = open_request(
            account=invoice.account,
            invoice=invoice,
            purpose=PaymentPurpose.INVOICE,
            amount=amount,
            currency=currency,
            gateway=handler.name,
            idempotency_key=idempotency_key,
        )
        return _start(request, handler, by=requested_by)


def _invoice_amount(invoice: Invoice) -> tuple[Decimal, str]:
    """What a client pays for `invoice`, or why it cannot be paid (refusals, 409)."""
    if invoice.status not in UNPAID_STATUSES:
        raise InvoiceStateError(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: only an "
            "approved or overdue invoice can be paid.",
            field="status",
        )
    payment = Payment.objects.filter(invoice=invoice).first()
    if payment is not None and payment.status == PaymentStatus.WAITING and not payment.due_date:
        raise InvoiceStateError(
            f"Invoice {invoice.number} is waiting for the accounting system to set its due "
            "date: it can be paid once it has one.",
            field="due_date",
        )
    if invoice.outstanding <= 0:
        raise InvoiceStateError(
            f"Invoice {invoice.number} has nothing left to pay.", field="status"
        )
    if not invoice.payable_from_balance:
        return payment.external_total, payment.external_currency
    return invoice.outstanding, invoice.currency


def payment_request_top_up(
    *,
    account_id: int,
    amount,
    gateway: str,
    requested_by,
    idempotency_key: str | None = None,
) -> PaymentRequest:
    """Ask for money to add to the balance (any payment mode) through a gateway.

    When it arrives it is booked as money received, which pays the oldest unpaid
    invoices first, as always; the rest stays on the balance.
    """
    amount = positive_amount(amount)
    handler = _check_gateway(gateway, requested_by)
    with transaction.atomic():
        row = lock_books(account_id)
        if idempotency_key:
            existing = PaymentRequest.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.account_id != account_id or existing.purpose != PaymentPurpose.TOP_UP:
                    raise InvalidInput(
                        "This idempotency key was used for another request.",
                        field="idempotency_key",
                    )
                return existing
        request = open_request(
            account=row.account,
            purpose=PaymentPurpose.TOP_UP,
            amount=amount,
            gateway=handler.name,
            idempotency_key=idempotency_key,
        )
        return _start(request, handler, by=requested_by)


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
