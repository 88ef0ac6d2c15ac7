"""What an upsell changes and what it costs: the checks, the quote, and applying it.

The quote is the monthly difference prorated to the day for the rest of the month,
today included. A plan change moves to a dearer plan sold in the account's currency, of
the same charging
model; a cheaper plan is refused (downgrades are not applied mid-period: cancel and
order, or have staff change it at the next period). The change is applied only when
paid, and re-quoted then: a gateway payment that arrives days later is charged for the
days left, the rest of the money stays on the balance.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils import timezone

from billing_site.exceptions import InvalidInput
from ledger.models import EntryKind
from ledger.services import ledger_charge

from ..exceptions import NotOrderable, SubscriptionStateError
from ..models import (
    AddOn,
    Charging,
    Plan,
    Subscription,
    SubscriptionAddOn,
    SubscriptionStatus,
    Upsell,
    UpsellKind,
)
from ..periods import month_end, next_month_start, prorate


@dataclass(frozen=True)
class Change:
    kind: str
    to_plan: Plan | None = None
    add_on: AddOn | None = None

    @property
    def label(self) -> str:
        if self.kind == UpsellKind.PLAN:
            return f"plan change to {self.to_plan.name}"
        return f"add-on {self.add_on.name}"


def _lookup(model, value, *, field: str, label: str):
    if isinstance(value, model):
        return value
    found = model.objects.filter(code=(value or "").strip()).first()
    if found is None:
        raise InvalidInput(f"There is no {label} with the code {value!r}.", field=field)
    return found


def resolve_change(subscription: Subscription, *, on: date, to_plan=None, add_on=None) -> Change:
    """Check that the subscription may take this change on `on`; refusals say why."""
    if (to_plan is None) == (add_on is None):
        raise InvalidInput("Name either a plan to change to or an add-on, not both.", field="plan")
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionStateError(
            f"Subscription #{subscription.pk} is {subscription.get_status_display().lower()}: "
            "only an active subscription can be changed.",
            field="status",
        )
    if subscription.is_trial:
        raise NotOrderable(
            "The subscription is in its free trial; change it once the paid period has begun.",
            field="subscription",
        )
    current = subscription.plan
    currency = subscription.account.currency
    if subscription.plan.charging == Charging.PREPAY and (
        subscription.paid_until is None or subscription.paid_until < on
    ):
        raise SubscriptionStateError(
            "This month's renewal is not charged yet; change the subscription once it is.",
            field="subscription",
        )
    if to_plan is not None:
        plan = _lookup(Plan, to_plan, field="plan", label="plan")
        if plan.pk == current.pk:
            raise NotOrderable(f"The subscription is already on plan {plan.code}.", field="plan")
        if not plan.active:
            raise NotOrderable(f"Plan {plan.code} is no longer sold.", field="plan")
        if not plan.sold_in(currency):
            raise NotOrderable(
                f"Plan {plan.code} is priced in {plan.currency}, the account in {currency}.",
                field="plan",
            )
        if plan.charging != current.charging:
            raise NotOrderable(
                f"Plan {plan.code} is charged {plan.charging}, the current plan "
                f"{current.charging}; a change of charging model is a new order, not an upgrade.",
                field="plan",
            )
        if plan.price < subscription.plan_price:
            raise NotOrderable(
                f"Plan {plan.code} costs {plan.price} {currency} a month, less than the "
                f"current {subscription.plan_price}: only upgrades are made mid-period. "
                "Cancel and order the cheaper plan instead.",
                field="plan",
            )
        allowed = set(plan.add_ons.values_list("pk", flat=True))
        kept = [a.add_on for a in subscription.add_ons.select_related("add_on")]
        dropped = [a.code for a in kept if a.pk not in allowed]
        if dropped:
            raise NotOrderable(
                f"Plan {plan.code} does not offer the add-on(s) {', '.join(dropped)} this "
                "subscription has.",
                field="plan",
            )
        return Change(kind=UpsellKind.PLAN, to_plan=plan)
    extra = _lookup(AddOn, add_on, field="add_on", label="add-on")
    if not extra.active:
        raise NotOrderable(f"Add-on {extra.code} is no longer sold.", field="add_on")
    if not current.add_ons.filter(pk=extra.pk).exists():
        raise NotOrderable(
            f"Plan {current.code} does not offer add-on {extra.code}.", field="add_on"
        )
    if not extra.sold_in(currency):
        raise NotOrderable(
            f"Add-on {extra.code} is priced in {extra.currency}, the account in {currency}.",
            field="add_on",
        )
    if subscription.add_ons.filter(add_on=extra).exists():
        raise NotOrderable(f"The subscription already has add-on {extra.code}.", field="add_on")
    return Change(kind=UpsellKind.ADD_ON, add_on=extra)


def monthly_difference(subscription: Subscription, change: Change) -> Decimal:
    if change.kind == UpsellKind.PLAN:
        return change.to_plan.price - subscription.plan_price
    return change.add_on.price


def quote(subscription: Subscription, change: Change, on: date) -> Decimal:
    """The difference per month × days left in the month (today included) / its days."""
    return prorate(monthly_difference(subscription, change), on, month_end(on))


def apply_upsell(upsell: Upsell, *, on: date, by=None) -> Upsell:
    """Charge the change for the rest of the month and make it (the books are locked).

    Checks and quotes again at `on`; a refusal (of the change or of the spend)
    propagates and changes nothing.
    """
    subscription = Subscription.objects.select_related("plan", "period_plan", "account").get(
        pk=upsell.subscription_id
    )
    change = resolve_change(subscription, on=on, to_plan=upsell.to_plan, add_on=upsell.add_on)
    amount = quote(subscription, change, on)
    entry = None
    if amount > 0:
        entry = ledger_charge(
            account_id=subscription.account_id,
            amount=amount,
            idempotency_key=f"subscription:{subscription.pk}:upsell:{upsell.pk}",
            description=f"{change.label.capitalize()}: {on:%d %b} – {month_end(on):%d %b %Y}",
            kind=EntryKind.CHARGE,
            period_start=on,
            period_end=month_end(on),
            created_by=by,
        ).entry
    if change.kind == UpsellKind.PLAN:
        subscription.plan = change.to_plan
        subscription.plan_price = change.to_plan.price
        subscription.save(update_fields=["plan", "plan_price"])
    else:
        SubscriptionAddOn.objects.create(
            subscription=subscription,
            add_on=change.add_on,
            price=change.add_on.price,
            billed_from=next_month_start(on),
            added_by=by,
        )
    upsell.apply(charged=amount, entry=entry, when=timezone.now())
    upsell.save()
    return upsell
