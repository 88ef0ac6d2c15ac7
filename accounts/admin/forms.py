"""Admin forms: they collect input and hand it to a service; the service decides.

Nothing here repeats a business rule. A service's `DomainError` comes back onto the
field it names (`show_domain_error`), so the operator sees the refusal where they typed.
"""

import uuid

from django import forms

from accounts.models import CreditLimitScope, PaymentMode
from billing_site.exceptions import DomainError
from billing_site.money import LEDGER_PLACES, MAX_DIGITS
from ledger.models import SPEND_KINDS, EntryKind


def show_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Put a service's refusal on the field it blames, or on the form as a whole."""
    field = exc.field if exc.field in form.fields and not _is_hidden(form, exc.field) else None
    form.add_error(field, exc.detail)


def _is_hidden(form, name):
    return form.fields[name].widget.is_hidden


def _amount_field(**kwargs):
    return forms.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=LEDGER_PLACES,
        widget=forms.NumberInput(attrs={"step": "any", "class": "vTextField amount-input"}),
        **kwargs,
    )


class ClientCreateForm(forms.Form):
    """A new client with its billing account, created by `account_create`."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"class": "vTextField"}))
    email = forms.EmailField(
        help_text="Billing address: invoices and reminders go here.",
        widget=forms.EmailInput(attrs={"class": "vTextField"}),
    )
    currency = forms.CharField(
        max_length=3,
        initial="USD",
        help_text="ISO 4217 code (USD, EUR, GBP…); fixed once the account exists.",
        widget=forms.TextInput(attrs={"size": 4, "style": "text-transform: uppercase"}),
    )
    payment_mode = forms.ChoiceField(choices=PaymentMode.choices, initial=PaymentMode.PREPAID)
    credit_limit = _amount_field(
        required=False, help_text="Only for credit-limit accounts: how far below zero it may go."
    )
    credit_limit_scope = forms.ChoiceField(
        choices=CreditLimitScope.choices,
        initial=CreditLimitScope.TOTAL_DEBT,
        label="Limit applies to",
        required=False,
    )
    payment_term_days = forms.IntegerField(
        required=False,
        label="Payment term (days)",
        help_text="Credit-limit invoices fall due this many days after they are issued; "
        "empty: the system setting.",
    )

    def clean_currency(self):
        return self.cleaned_data["currency"].strip().upper()


class ConvertModeForm(forms.Form):
    payment_mode = forms.ChoiceField(choices=PaymentMode.choices, label="New payment mode")
    credit_limit = _amount_field(
        required=False, help_text="Required for credit-limit mode; leave empty otherwise."
    )
    credit_limit_scope = forms.ChoiceField(
        choices=CreditLimitScope.choices, label="Limit applies to", required=False
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the account's history with your name and the time.",
    )


class ReasonForm(forms.Form):
    """Block or unblock credit: the reason goes into the account's state history."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 50}))


def new_key(form) -> str:
    """A fresh idempotency key for a booking form (one per page shown)."""
    return f"admin-{form.key_prefix}-{uuid.uuid4().hex}"


class _BookingForm(forms.Form):
    """A money-moving form: a key made when the form is first shown travels with it,
    so submitting the same page twice books once (the service replays the key)."""

    key_prefix = ""
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", new_key(self))


class ChargeForm(_BookingForm):
    key_prefix = "charge"
    amount = _amount_field(help_text="The positive size of the charge.")
    kind = forms.ChoiceField(
        choices=[(k.value, k.label) for k in SPEND_KINDS], initial=EntryKind.CHARGE
    )
    description = forms.CharField(
        max_length=500, required=False, widget=forms.TextInput(attrs={"class": "vTextField"})
    )


class PaymentForm(_BookingForm):
    key_prefix = "payment"
    amount = _amount_field(help_text="Money received from the client.")
    reference = forms.CharField(
        max_length=200,
        required=False,
        help_text="Bank transfer or receipt reference.",
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )


class PortalUserForm(forms.Form):
    """A portal login for a client, created by `client_add_user`."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        strip=False,
    )
