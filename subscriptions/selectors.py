"""Reads of plans and subscriptions for the admin, the portal and the API."""

from django.db.models import Prefetch, QuerySet

from .models import AddOn, Plan, Subscription, SubscriptionAddOn


def plans_catalogue(*, active_only: bool = False) -> QuerySet[Plan]:
    plans = Plan.objects.prefetch_related(
        Prefetch("add_ons", queryset=AddOn.objects.order_by("code"))
    )
    return plans.filter(active=True) if active_only else plans


def add_ons_catalogue() -> QuerySet[AddOn]:
    return AddOn.objects.all()


def subscriptions_with_details(queryset: QuerySet[Subscription] | None = None):
    """Subscriptions with their plan and add-ons, in two queries whatever their number."""
    queryset = Subscription.objects.all() if queryset is None else queryset
    return queryset.select_related("plan", "account").prefetch_related(
        Prefetch("add_ons", queryset=SubscriptionAddOn.objects.select_related("add_on"))
    )


def account_subscriptions(account_id: int) -> QuerySet[Subscription]:
    return subscriptions_with_details(Subscription.objects.filter(account_id=account_id))


def monthly_total(subscription: Subscription):
    """What the subscription costs a month in its current period (plan and add-ons)."""
    return subscription.plan_price + sum((a.price for a in subscription.add_ons.all()), 0)
