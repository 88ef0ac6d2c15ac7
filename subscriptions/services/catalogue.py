"""Plans and add-ons: the catalogue (the admin edits them too, through the same checks)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing_site.exceptions import InvalidInput, require_perm
from billing_site.money import InvalidAmount, is_known_currency, to_ledger_amount

from ..models import AddOn, Charging, Plan, SubscriptionStatus

MAX_TRIAL_DAYS = 365


def clean_price(value, *, field: str = "price"):
    try:
        price = to_ledger_amount(value)
    except InvalidAmount as exc:
        raise InvalidInput(str(exc), field=field) from exc
    if price < 0:
        raise InvalidInput("A price cannot be negative.", field=field)
    return price


def clean_currency(value) -> str:
    """An ISO 4217 code, or "" for an add-on's price read in each account's own currency."""
    currency = (value or "").strip().upper()
    if currency and not is_known_currency(currency):
        raise InvalidInput(
            f"{value!r} is not an ISO 4217 currency code (like USD or EUR).", field="currency"
        )
    return currency


def clean_plan_currency(value, *, plan: Plan | None = None) -> str:
    """A plan's currency; a plan already bought keeps its buyers' currency.

    Subscriptions snapshot the plan's price in their account's currency, and an account
    orders only plans sold in its own: a plan moved to another currency would renew and
    upsell at a price its running subscriptions cannot be charged in.
    """
    currency = clean_currency(value)
    if not currency:
        raise InvalidInput(
            "A plan is sold in one currency: give its ISO 4217 code (like USD or EUR).",
            field="currency",
        )
    if plan is not None and plan.pk is not None:
        buyers = sorted(
            set(
                plan.subscriptions.exclude(status=SubscriptionStatus.CANCELLED)
                .exclude(account__currency=currency)
                .values_list("account__currency", flat=True)
            )
        )
        if buyers:
            raise InvalidInput(
                f"Plan {plan.code} has subscriptions of accounts in {', '.join(buyers)}; it "
                f"stays in their currency (a plan in {currency} is a new plan).",
                field="currency",
            )
    return currency


def clean_code(value, *, model, label: str) -> str:
    code = (value or "").strip()
    field = model._meta.get_field("code")
    try:
        field.clean(code, None)
    except ValidationError as exc:
        raise InvalidInput(f"{label} code: {' '.join(exc.messages)}", field="code") from None
    if model.objects.filter(code=code).exists():
        raise InvalidInput(f"A {label.lower()} with the code {code!r} exists.", field="code")
    return code


def clean_trial_days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TRIAL_DAYS:
        raise InvalidInput(
            f"trial_days is a whole number of days from 0 to {MAX_TRIAL_DAYS}.", field="trial_days"
        )
    return value


def _clean_name(value) -> str:
    name = (value or "").strip()
    if not name:
        raise InvalidInput("A name is required.", field="name")
    return name[:200]


def check_add_ons_currency(add_ons, currency):
    for add_on in add_ons:
        if not add_on.sold_in(currency):
            raise InvalidInput(
                f"Add-on {add_on.code} is priced in {add_on.currency}, the plan in {currency}.",
                field="add_ons",
            )


def add_on_create(*, code: str, name: str, price, currency: str = "", created_by=None) -> AddOn:
    require_perm(created_by, "subscriptions.add_addon", "create add-ons")
    try:
        with transaction.atomic():
            return AddOn.objects.create(
                code=clean_code(code, model=AddOn, label="Add-on"),
                name=_clean_name(name),
                price=clean_price(price),
                currency=clean_currency(currency),
            )
    except IntegrityError:
        raise InvalidInput(f"An add-on with the code {code!r} exists.", field="code") from None


def plan_create(
    *,
    code: str,
    name: str,
    price,
    currency: str,
    charging: str = Charging.PREPAY,
    trial_days: int = 0,
    add_ons: list[str] | None = None,
    created_by=None,
) -> Plan:
    """A new plan; its price is monthly, in `currency` (ISO 4217, required: only accounts
    keeping their books in it order the plan), charged per `charging`."""
    require_perm(created_by, "subscriptions.add_plan", "create plans")
    if charging not in Charging.values:
        raise InvalidInput(f"charging is one of: {', '.join(Charging.values)}.", field="charging")
    currency = clean_plan_currency(currency)
    codes = list(dict.fromkeys(add_ons or []))
    found = list(AddOn.objects.filter(code__in=codes))
    missing = sorted(set(codes) - {a.code for a in found})
    if missing:
        raise InvalidInput(f"No add-on has the code {', '.join(missing)}.", field="add_ons")
    check_add_ons_currency(found, currency)
    try:
        with transaction.atomic():
            plan = Plan.objects.create(
                code=clean_code(code, model=Plan, label="Plan"),
                name=_clean_name(name),
                price=clean_price(price),
                currency=currency,
                charging=charging,
                trial_days=clean_trial_days(trial_days),
            )
            plan.add_ons.set(found)
    except IntegrityError:
        raise InvalidInput(f"A plan with the code {code!r} exists.", field="code") from None
    return plan
