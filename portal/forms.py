"""Portal forms: they check the shape of the input; the services decide the rest."""

from decimal import Decimal

from django import forms

from billing_site.throttling import ThrottledAuthenticationForm
from subscriptions.gateways import enabled_gateways
from subscriptions.models import CONFIRM_PERMISSION, PayWith

from .selectors import money


class PortalLoginForm(ThrottledAuthenticationForm):
    """Django's login form with the site's login throttling (billing_site.throttling)."""


def gateway_choices_for(user) -> list[tuple[str, str]]:
    """The gateways this user may choose: those enabled here.

    A gateway that settles at once (the test gateway, where enabled) books money nobody
    sent, so the services accept it only from users who may confirm payments; it is not
    offered to anyone else (the services check again).
    """
    return [
        (g.name, g.label)
        for g in enabled_gateways().values()
        if not g.settles_at_once or user.has_perm(CONFIRM_PERMISSION)
    ]


class OrderForm(forms.Form):
    plan = forms.ChoiceField(label="Plan")
    trial = forms.BooleanField(label="Start with the free trial", required=False)

    def __init__(self, *args, plans, currency, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [("", "Choose a plan…")] + [
            (p.code, plan_label(p, currency)) for p in plans
        ]


def plan_label(plan, currency: str) -> str:
    how = "billed monthly in arrears" if plan.is_postpay else "paid monthly in advance"
    trial = f", {plan.trial_days}-day free trial" if plan.trial_days else ""
    return f"{plan.name}: {money(plan.price, plan.currency or currency)} a month, {how}{trial}"


class UpsellForm(forms.Form):
    change = forms.ChoiceField(label="Change", help_text="A plan upgrade or an add-on.")
    pay_with = forms.ChoiceField(
        label="How to pay",
        choices=[
            (PayWith.BALANCE, "Charge it to my balance"),
            (PayWith.GATEWAY, "Pay for it now by another method (the change waits for the money)"),
        ],
        widget=forms.RadioSelect,
        initial=PayWith.BALANCE,
    )
    gateway = forms.ChoiceField(label="Gateway", required=False)

    def __init__(self, *args, plans, add_ons, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change"].choices = (
            [("", "Choose a change…")]
            + [(f"plan:{p.code}", f"Change plan to {p.name}") for p in plans]
            + [(f"add_on:{a.code}", f"Add {a.name}") for a in add_ons]
        )
        self.fields["gateway"].choices = gateway_choices_for(user)

    def change_kwargs(self) -> dict:
        kind, _, code = self.cleaned_data["change"].partition(":")
        return {"to_plan": code} if kind == "plan" else {"add_on": code}


class PayForm(forms.Form):
    gateway = forms.ChoiceField(label="Pay with", widget=forms.RadioSelect)
    nonce = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        choices = gateway_choices_for(user)
        self.fields["gateway"].choices = choices
        self.fields["gateway"].initial = choices[0][0]


class TopUpForm(PayForm):
    amount = forms.DecimalField(
        label="Amount",
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )

    field_order = ["amount", "gateway", "nonce"]
