"""Clients, their logins and billing accounts as the API shows and takes them."""

from dataclasses import dataclass

from django.core.validators import MaxValueValidator
from rest_framework import serializers

from accounts.models import (
    BillingAccount,
    Client,
    CreditLimitScope,
    CreditStatus,
    PaymentMode,
    PostpaidPermission,
)
from accounts.services import MAX_PAYMENT_TERM_DAYS
from ledger.selectors import Figures

from .money import AccountCurrencyInput, MoneyField, MoneyInputField, currency_error
from .strict import JsonInput


@dataclass(frozen=True)
class AccountView:
    """An account with the figures to show beside it (read in the same breath)."""

    account: BillingAccount
    figures: Figures


def _account_money(source: str, **kwargs) -> MoneyField:
    return MoneyField(source=source, currency_source="figures.currency", **kwargs)


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="account.pk")
    client = serializers.IntegerField(source="account.client_id")
    client_name = serializers.CharField(source="account.client.name")
    currency = serializers.CharField(source="account.currency")
    payment_mode = serializers.ChoiceField(PaymentMode.choices, source="account.payment_mode")
    credit_limit = _account_money(
        "account.credit_limit", allow_null=True, help_text="Only in credit_limit mode."
    )
    credit_limit_scope = serializers.ChoiceField(
        CreditLimitScope.choices, source="account.credit_limit_scope"
    )
    payment_term_days = serializers.IntegerField(source="account.payment_term_days")
    credit_status = serializers.ChoiceField(CreditStatus.choices, source="account.credit_status")
    credit_block_reason = serializers.CharField(
        source="account.credit_block_reason",
        help_text="Why the credit is blocked, as recorded by the block (what staff typed, or "
        "the overdue invoice); empty while the credit is active.",
    )
    postpaid_permission = serializers.ChoiceField(
        PostpaidPermission.choices, source="account.postpaid_permission"
    )
    balance = _account_money("figures.balance", help_text="Sum of all entries.")
    unbilled = _account_money("figures.unbilled", help_text="Charges not yet invoiced.")
    amount_due = _account_money(
        "figures.amount_due", help_text="Invoiced minus paid: negative is owed."
    )
    reserved = _account_money("figures.reserved", help_text="Pending holds.")
    usable = _account_money(
        "figures.usable", allow_null=True, help_text="What can be spent now; null = unlimited."
    )
    created_at = serializers.DateTimeField(source="account.created_at")


@dataclass(frozen=True)
class ClientView:
    client: Client
    account: AccountView


class ClientSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="client.pk")
    name = serializers.CharField(source="client.name")
    email = serializers.EmailField(source="client.email")
    created_at = serializers.DateTimeField(source="client.created_at")
    account = serializers.IntegerField(source="account.account.pk", help_text="Account id.")
    billing_account = AccountSerializer(source="account")


class ClientUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(help_text="An e-mail address; empty when none was given.")
    client = serializers.IntegerField(source="client_membership.client_id")


# -- input -------------------------------------------------------------------------


class ClientCreateInput(JsonInput):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField()
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, fixed for good.")
    payment_mode = serializers.ChoiceField(PaymentMode.choices, default=PaymentMode.PREPAID)
    credit_limit = MoneyInputField(
        positive=False, required=False, allow_null=True, help_text="Only in credit_limit mode."
    )
    credit_limit_scope = serializers.ChoiceField(
        CreditLimitScope.choices, default=CreditLimitScope.TOTAL_DEBT
    )
    payment_term_days = serializers.IntegerField(
        required=False,
        help_text="Default: the system setting default_payment_term_days.",
        min_value=0,
        validators=[MaxValueValidator(MAX_PAYMENT_TERM_DAYS)],
    )

    def validate(self, attrs):
        limit = attrs.get("credit_limit")
        currency = attrs["currency"].strip().upper()
        if limit is not None and limit.currency is not None and limit.currency != currency:
            raise serializers.ValidationError(
                {"credit_limit": currency_error(currency, limit.currency)}
            )
        return attrs


class ClientUserCreateInput(JsonInput):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Django's password validators apply.",
    )


class ModeChangeInput(AccountCurrencyInput):
    money_fields = ("credit_limit",)

    payment_mode = serializers.ChoiceField(PaymentMode.choices)
    credit_limit = MoneyInputField(
        positive=False,
        required=False,
        allow_null=True,
        help_text="Required for credit_limit mode (> 0); omit for the other modes.",
    )
    credit_limit_scope = serializers.ChoiceField(CreditLimitScope.choices, required=False)
    reason = serializers.CharField(max_length=2000, help_text="Why; kept in the history.")


class AccountFilter(serializers.Serializer):
    """Query filters; an empty value (`?payment_mode=`) filters nothing."""

    payment_mode = serializers.ChoiceField(PaymentMode.choices, required=False, allow_blank=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    credit_status = serializers.ChoiceField(CreditStatus.choices, required=False, allow_blank=True)
