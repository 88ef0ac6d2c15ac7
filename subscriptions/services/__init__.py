"""Every write to plans, subscriptions, upsells and payment requests (docs/design.md §3).

orders: ordering, the approval seam, suspend/resume/cancel by hand; renewals: the daily
calendar step; upsell and changes: plan changes and add-ons; payments: payment requests
through the gateways; catalogue: plans and add-ons; common: what they share.
"""

from .catalogue import add_on_create, plan_create
from .orders import (
    subscription_cancel,
    subscription_order,
    subscription_resume,
    subscription_suspend,
    subscriptions_cancel_waiting,
    subscriptions_provision_waiting,
)
from .payments import (
    payment_request_cancel,
    payment_request_confirm,
    payment_request_for_invoice,
    payment_request_top_up,
)
from .renewals import subscriptions_renew
from .upsell import upsell_order, upsell_quote

__all__ = [
    "add_on_create",
    "payment_request_cancel",
    "payment_request_confirm",
    "payment_request_for_invoice",
    "payment_request_top_up",
    "plan_create",
    "subscription_cancel",
    "subscription_order",
    "subscription_resume",
    "subscription_suspend",
    "subscriptions_cancel_waiting",
    "subscriptions_provision_waiting",
    "subscriptions_renew",
    "upsell_order",
    "upsell_quote",
]
