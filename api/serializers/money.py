"""Money in JSON: `{"amount": "12.500000", "currency": "USD"}` out, lenient shapes in.

Out: six places as a string, so no client parses an amount into a float by accident.
In: `"12.5"`, a JSON number (parsed as Decimal, see `api.parsers`) or a money object;
the amount rules are the ledger's own (`positive_amount`, `to_ledger_amount`), and a
currency other than the account's is refused rather than converted.
"""

from decimal import Decimal
from typing import NamedTuple

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import get_attribute

from billing_site.exceptions import InvalidInput
from billing_site.money import LEDGER_PLACES, InvalidAmount, currency_refusal, to_ledger_amount
from ledger.services import positive_amount

from .strict import JsonInput


def money_out(amount: Decimal | None, currency: str) -> dict | None:
    if amount is None:
        return None
    if amount == 0:
        amount = abs(amount)  # never "-0.000000"
    return {"amount": f"{amount:.{LEDGER_PLACES}f}", "currency": currency}


class MoneySerializer(serializers.Serializer):
    """The shape of money in every answer (documentation; values come from `MoneyField`)."""

    amount = serializers.CharField(help_text="Decimal string with six places, e.g. “12.500000”.")
    currency = serializers.CharField(help_text="ISO 4217 code.")


@extend_schema_field(MoneySerializer)
class MoneyField(serializers.Field):
    """A Decimal attribute shown as money; the currency is read from `currency_source`."""

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        kwargs["read_only"] = True
        self.currency_source = currency_source.split(".")
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        currency = get_attribute(instance, self.currency_source)
        return super().get_attribute(instance), currency

    def to_representation(self, value):
        amount, currency = value
        return money_out(amount, currency)


class Money(NamedTuple):
    amount: Decimal
    currency: str | None  # None: the caller did not say, the account's is assumed


MONEY_INPUT_SCHEMA = {
    "oneOf": [
        {"type": "string", "example": "12.50", "description": "Decimal string."},
        {"type": "number", "description": "Read as an exact decimal, never a float."},
        {
            "type": "object",
            "properties": {
                "amount": {"type": "string", "example": "12.50"},
                "currency": {"type": "string", "example": "USD"},
            },
            "required": ["amount"],
        },
    ],
    "description": "At most six decimal places; a currency, if given, must be the account's.",
}


@extend_schema_field(MONEY_INPUT_SCHEMA)
class MoneyInputField(serializers.Field):
    """Parses an amount to `Money`; `positive=False` leaves sign rules to the service."""

    def __init__(self, *, positive: bool = True, **kwargs):
        self.positive = positive
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        currency = None
        if isinstance(data, dict):
            unknown = sorted(set(data) - {"amount", "currency"})
            if unknown:
                raise serializers.ValidationError(
                    f"A money object has only “amount” and “currency”, not {', '.join(unknown)}."
                )
            if "amount" not in data:
                raise serializers.ValidationError("A money object needs an “amount”.")
            currency = data.get("currency")
            if currency is not None and not isinstance(currency, str):
                raise serializers.ValidationError("The currency is an ISO 4217 code like “USD”.")
            if currency is not None and (refusal := currency_refusal(currency.strip().upper())):
                raise serializers.ValidationError(refusal)
            data = data["amount"]
        if isinstance(data, bool | dict | list) or data is None:
            raise serializers.ValidationError(
                'The amount must be a decimal number, such as "12.50".'
            )
        try:
            amount = positive_amount(data) if self.positive else to_ledger_amount(data)
        except (InvalidInput, InvalidAmount) as exc:
            raise serializers.ValidationError(str(exc)) from None
        return Money(amount, currency.strip().upper() if currency else None)

    def to_representation(self, value):
        return value  # input only; answers use MoneyField


def currency_error(expected: str, sent: str) -> str:
    return (
        f"The account keeps its books in {expected}; an amount in {sent} cannot be booked "
        "on it. Send the amount in the account's currency."
    )


class AccountCurrencyInput(JsonInput):
    """Amounts are in the account's currency; a `currency` sent beside them must be it."""

    money_fields: tuple[str, ...] = ("amount",)

    currency = serializers.CharField(
        required=False, help_text="Optional; if given, it must be the account's currency."
    )

    def validate(self, attrs):
        expected = self.context["account"].currency
        sent = attrs.get("currency")
        if sent is not None and (refusal := currency_refusal(sent.strip().upper())):
            raise serializers.ValidationError({"currency": refusal})
        if sent is not None and sent.strip().upper() != expected:
            raise serializers.ValidationError({"currency": currency_error(expected, sent)})
        for name in self.money_fields:
            value = attrs.get(name)
            if value is not None and value.currency is not None and value.currency != expected:
                raise serializers.ValidationError({name: currency_error(expected, value.currency)})
        return attrs
