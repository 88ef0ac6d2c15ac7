"""Subscriptions: list, order a plan, upsell (quote, then pay from balance or by gateway)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from approvals.exceptions import UnderReview
from billing_site.exceptions import DomainError
from subscriptions.models import SubscriptionStatus, UpsellStatus
from subscriptions.services import subscription_order, upsell_order, upsell_quote

from ..forms import OrderForm, UpsellForm
from ..selectors import (
    client_subscription,
    client_subscriptions,
    money,
    orderable_plans,
    subscription_words,
)
from .base import client_required, refused

WAITING_MESSAGE = "Your order is waiting: your account is under review."


def _row(subscription):
    words, tone = subscription_words(subscription)
    return {"subscription": subscription, "status": words, "tone": tone}


@client_required
def subscription_list(request):
    rows = [_row(s) for s in client_subscriptions(request.account.pk)]
    return render(request, "portal/subscriptions/list.html", {"rows": rows})


@client_required
@require_http_methods(["GET", "POST"])
def subscription_order_view(request):
    account = request.account
    plans = orderable_plans(account)
    form = OrderForm(request.POST or None, plans=plans, currency=account.currency)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = subscription_order(
                account_id=account.pk,
                plan=form.cleaned_data["plan"],
                trial=form.cleaned_data["trial"],
                ordered_by=request.user,
            )
        except UnderReview as error:
            messages.warning(request, error.detail)
        except DomainError as error:
            refused(request, error)
        else:
            if subscription.status == SubscriptionStatus.PENDING_APPROVAL:
                messages.warning(request, WAITING_MESSAGE)
            else:
                messages.success(request, f"Subscribed to {subscription.plan.name}.")
            return redirect("portal:subscriptions")
    return render(
        request,
        "portal/subscriptions/order.html",
        {"form": form, "trial_plans": [p.code for p in plans if p.trial_days]},
    )


def _upsell_choices(subscription):
    account = subscription.account
    plan = subscription.plan
    plans = [
        p
        for p in orderable_plans(account)
        if p.pk != plan.pk and p.charging == plan.charging and p.price > plan.price
    ]
    owned = {a.add_on_id for a in subscription.add_ons.all()}
    add_ons = [
        a
        for a in plan.add_ons.all()
        if a.active and a.sold_in(account.currency) and a.pk not in owned
    ]
    return plans, add_ons


@client_required
@require_http_methods(["GET", "POST"])
def subscription_detail(request, pk: int):
    """The subscription, and its upsell form: a quote first, then the order."""
    subscription = client_subscription(request.account.pk, pk)
    plans, add_ons = _upsell_choices(subscription)
    data = (
        request.POST
        if request.method == "POST"
        else (request.GET if "change" in request.GET else None)
    )
    form = UpsellForm(data, plans=plans, add_ons=add_ons, user=request.user)
    quote = None
    if data is not None and form.is_valid():
        try:
            if request.method == "POST":
                upsell = upsell_order(
                    subscription_id=subscription.pk,
                    pay_with=form.cleaned_data["pay_with"],
                    gateway=form.cleaned_data["gateway"] or "bank_transfer",
                    ordered_by=request.user,
                    **form.change_kwargs(),
                )
                _report_upsell(request, upsell)
                return redirect("portal:subscription_detail", pk=subscription.pk)
            quote = money(
                upsell_quote(subscription_id=subscription.pk, **form.change_kwargs()),
                subscription.account.currency,
            )
        except DomainError as error:
            refused(request, error)
    return render(
        request,
        "portal/subscriptions/detail.html",
        {
            **_row(subscription),
            "form": form,
            "quote": quote,
            "can_change": bool(plans or add_ons)
            and subscription.status == SubscriptionStatus.ACTIVE,
            "upsells": subscription.upsells.select_related("payment_request")[:10],
        },
    )


def _report_upsell(request, upsell) -> None:
    currency = upsell.subscription.account.currency
    if upsell.status == UpsellStatus.APPLIED:
        messages.success(request, f"Done: {upsell}; {money(upsell.charged, currency)} charged.")
    elif upsell.status == UpsellStatus.PENDING_PAYMENT and upsell.payment_request:
        request_ = upsell.payment_request
        messages.info(
            request,
            request_.instructions
            or f"Waiting for your payment of {money(request_.amount, currency)} "
            f"(reference {request_.reference}).",
        )
    else:
        messages.warning(request, f"{upsell}: {upsell.get_status_display()}. {upsell.note}")
