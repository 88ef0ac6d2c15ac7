"""Plans, add-ons, subscriptions, upsells and payment requests as the API shows them."""

from rest_framework import serializers

from subscriptions.gateways import gateway_choices
from subscriptions.models import (
    Charging,
    PaymentPurpose,
    PaymentRequestStatus,
    PayWith,
    SubscriptionStatus,
    SuspensionReason,
    UpsellKind,
    UpsellStatus,
)
from subscriptions.selectors import monthly_total
from subscriptions.services.catalogue import MAX_TRIAL_DAYS

from .money import MoneyField, MoneyInputField
from .strict import JsonInput


class AddOnSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    price = MoneyField(help_text="Monthly price.")
    active = serializers.BooleanField()


class PlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    price = MoneyField(help_text="Monthly price.")
    currency = serializers.CharField(
        help_text="ISO 4217: only accounts keeping their books in it order the plan."
    )
    charging = serializers.ChoiceField(Charging.choices)
    trial_days = serializers.IntegerField()
    active = serializers.BooleanField()
    add_ons = serializers.SerializerMethodField(help_text="Codes of the add-ons it offers.")
    created_at = serializers.DateTimeField()

    def get_add_ons(self, obj) -> list[str]:
        return [a.code for a in obj.add_ons.all()]


class _PricedInput(JsonInput):
    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200)
    price = MoneyInputField(positive=False, help_text="Monthly price (≥ 0).")
    currency = serializers.CharField(
        max_length=3,
        required=False,
        allow_blank=True,
        help_text="ISO 4217 (or send price as a money object). Without one, the price is read "
        "in each ordering account's own currency.",
    )

    def validate(self, attrs):
        sent = attrs.get("currency")
        in_price = attrs["price"].currency
        if sent and in_price and sent.strip().upper() != in_price:
            raise serializers.ValidationError(
                {"currency": f"The price is in {in_price} but currency says {sent}."}
            )
        attrs["currency"] = (sent or in_price or "").strip().upper()
        return attrs


class PlanCreateInput(_PricedInput):
    currency = serializers.CharField(
        max_length=3,
        required=False,
        allow_blank=True,
        help_text="ISO 4217, required (here or in price as a money object): a plan is sold "
        "in its currency, to accounts keeping their books in it.",
    )
    charging = serializers.ChoiceField(Charging.choices, default=Charging.PREPAY)
    trial_days = serializers.IntegerField(default=0, min_value=0, max_value=MAX_TRIAL_DAYS)
    add_ons = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, default=list
    )


class AddOnCreateInput(_PricedInput):
    pass


class SubscriptionAddOnSerializer(serializers.Serializer):
    code = serializers.CharField(source="add_on.code")
    name = serializers.CharField(source="add_on.name")
    price = MoneyField(
        currency_source="subscription.account.currency", help_text="Monthly, this period."
    )


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    plan = serializers.CharField(source="plan.code")
    plan_name = serializers.CharField(source="plan.name")
    charging = serializers.ChoiceField(Charging.choices, source="plan.charging")
    status = serializers.ChoiceField(SubscriptionStatus.choices)
    suspension_reason = serializers.ChoiceField(
        SuspensionReason.choices, allow_blank=True, help_text="Empty unless suspended."
    )
    is_trial = serializers.BooleanField()
    trial_ends_on = serializers.DateField(
        allow_null=True, help_text="The first day after the free trial."
    )
    paid_until = serializers.DateField(
        allow_null=True,
        help_text="Prepay: the last day paid. Postpay: the last day billed in arrears.",
    )
    monthly_price = serializers.SerializerMethodField(help_text="Plan and add-ons, a month.")
    add_ons = SubscriptionAddOnSerializer(many=True)
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    suspended_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)

    def get_monthly_price(self, obj) -> dict:
        from .money import money_out

        return money_out(monthly_total(obj), obj.account.currency)


class SubscriptionOrderInput(JsonInput):
    plan = serializers.SlugField(max_length=50, help_text="The plan's code.")
    trial = serializers.BooleanField(default=False, help_text="Start with the plan's free trial.")


class PaymentRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    purpose = serializers.ChoiceField(PaymentPurpose.choices)
    gateway = serializers.CharField()
    amount = MoneyField()
    status = serializers.ChoiceField(PaymentRequestStatus.choices)
    instructions = serializers.CharField(help_text="What the client should do, if anything.")
    outcome = serializers.CharField(help_text="What was done when it was settled.")
    subscription = serializers.IntegerField(
        source="subscription_id", allow_null=True, help_text="Renewal and upsell."
    )
    invoice = serializers.IntegerField(source="invoice_id", allow_null=True, help_text="Invoice.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class UpsellSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subscription = serializers.IntegerField(source="subscription_id")
    kind = serializers.ChoiceField(UpsellKind.choices)
    to_plan = serializers.CharField(source="to_plan.code", allow_null=True)
    add_on = serializers.CharField(source="add_on.code", allow_null=True)
    amount = MoneyField(
        currency_source="subscription.account.currency",
        help_text="Prorated for the rest of the month.",
    )
    charged = MoneyField(
        currency_source="subscription.account.currency",
        allow_null=True,
        help_text="Charged when applied (re-quoted on the day it was paid).",
    )
    pay_with = serializers.ChoiceField(PayWith.choices)
    status = serializers.ChoiceField(UpsellStatus.choices)
    note = serializers.CharField()
    payment_request = PaymentRequestSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    applied_at = serializers.DateTimeField(allow_null=True)


class UpsellInput(JsonInput):
    plan = serializers.SlugField(max_length=50, required=False, help_text="Plan to upgrade to.")
    add_on = serializers.SlugField(max_length=50, required=False, help_text="Add-on to buy.")
    pay_with = serializers.ChoiceField(PayWith.choices, default=PayWith.BALANCE)
    gateway = serializers.ChoiceField(
        gateway_choices(), default="bank_transfer", help_text="With pay_with=gateway."
    )

    def validate(self, attrs):
        if "plan" in attrs and "add_on" in attrs:
            raise serializers.ValidationError(
                {"plan": "Send either “plan” (an upgrade) or “add_on”, not both."}
            )
        if "plan" not in attrs and "add_on" not in attrs:
            raise serializers.ValidationError(
                {
                    "plan": "Send “plan” (the code of the plan to upgrade to) or “add_on” (the "
                    "code of the add-on to buy)."
                }
            )
        return attrs


class UpsellQuoteInput(serializers.Serializer):
    plan = serializers.SlugField(max_length=50, required=False)
    add_on = serializers.SlugField(max_length=50, required=False)

    validate = UpsellInput.validate


class UpsellQuoteSerializer(serializers.Serializer):
    subscription = serializers.IntegerField()
    amount = MoneyField(help_text="To pay now: the monthly difference for the days left.")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
