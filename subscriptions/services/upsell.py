"""Upsell: a plan upgrade or an add-on, paid from the balance or through a gateway.

From the balance: postpaid accounts always; credit-limit and prepaid accounts only if
their usable amount covers it, else the ledger's refusal comes back as it is (402). By
gateway: the change waits (`pending_payment`) with a payment request, and is applied
when the money arrives (the test gateway, where it is enabled, pays at once).
"""

from decimal import Decimal

from django.db import transaction

from accounts.models import PaymentMode
from billing_site.exceptions import InvalidInput, NotFound, require_perm

from ..gateways import get_gateway
from ..models import (
    CONFIRM_PERMISSION,
    PaymentPurpose,
    PayWith,
    Subscription,
    Upsell,
)
from .changes import apply_upsell, quote, resolve_change
from .common import lock_subscription, today
from .payments import open_request, settle


def upsell_quote(*, subscription_id: int, to_plan=None, add_on=None, on=None) -> Decimal:
    """What the change would cost if ordered on `on` (default today)."""
    subscription = (
        Subscription.objects.select_related("plan", "account").filter(pk=subscription_id).first()
    )
    if subscription is None:
        raise NotFound(f"Subscription {subscription_id} does not exist.", field="subscription")
    on = on or today()
    change = resolve_change(subscription, on=on, to_plan=to_plan, add_on=add_on)
    return quote(subscription, change, on)


def upsell_order(
    *,
    subscription_id: int,
    to_plan=None,
    add_on=None,
    pay_with: str = PayWith.BALANCE,
    gateway: str = "bank_transfer",
    ordered_by=None,
) -> Upsell:
    """Order a change; applied now if paid from the balance, else when the money arrives."""
    if pay_with not in PayWith.values:
        raise InvalidInput(f"pay_with is one of: {', '.join(PayWith.values)}.", field="pay_with")
    handler = get_gateway(gateway) if pay_with == PayWith.GATEWAY else None
    if handler is not None and handler.settles_at_once:
        # Paying through a gateway that settles at once books money nobody sent.
        require_perm(ordered_by, CONFIRM_PERMISSION, f"pay through the {handler.name} gateway")
    on = today()
    with transaction.atomic():
        row, subscription = lock_subscription(subscription_id)
        change = resolve_change(subscription, on=on, to_plan=to_plan, add_on=add_on)
        amount = quote(subscription, change, on)
        upsell = Upsell.objects.create(
            subscription=subscription,
            kind=change.kind,
            from_plan=subscription.plan if change.to_plan else None,
            to_plan=change.to_plan,
            add_on=change.add_on,
            amount=amount,
            pay_with=pay_with,
            ordered_by=ordered_by,
        )
        if handler is None or amount == 0:
            return apply_upsell(upsell, on=on, by=ordered_by)
        if row.account.payment_mode == PaymentMode.PREPAID and row.balance < 0:
            raise InvalidInput(
                f"The account is prepaid and its balance is negative ({row.balance} "
                f"{row.account.currency}): a payment would first cover the debt. Top up the "
                "balance, then order the change.",
                field="pay_with",
            )
        request = open_request(
            subscription, purpose=PaymentPurpose.UPSELL, amount=amount, gateway=handler.name
        )
        upsell.payment_request = request
        upsell.save(update_fields=["payment_request"])
        if handler.settles_at_once:
            settle(request, by=ordered_by)
    return Upsell.objects.select_related("payment_request").get(pk=upsell.pk)
