"""Charges, holds and payments as the API takes and answers them."""

from dataclasses import dataclass
from decimal import Decimal

from rest_framework import serializers

from ledger.models import SPEND_KINDS, Entry, EntryKind, Reservation, ReservationStatus
from ledger.services import MAX_HOLD_SECONDS

from .accounts import AccountSerializer, AccountView
from .money import AccountCurrencyInput, MoneyField, MoneyInputField


@dataclass(frozen=True)
class EntryView:
    entry: Entry
    account: AccountView

    @property
    def size(self) -> Decimal:
        return abs(self.entry.amount)


class EntryResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="entry.pk", help_text="The ledger entry.")
    entry = serializers.IntegerField(source="entry.pk", help_text="Same as id.")
    kind = serializers.ChoiceField(EntryKind.choices, source="entry.kind")
    amount = MoneyField(
        source="size", currency_source="account.figures.currency", help_text="Positive size."
    )
    ledger_amount = MoneyField(
        source="entry.amount",
        currency_source="account.figures.currency",
        help_text="As booked: charges negative, money received positive.",
    )
    description = serializers.CharField(source="entry.description")
    created_at = serializers.DateTimeField(source="entry.created_at")
    account = AccountSerializer(help_text="The account and its figures right after this entry.")


@dataclass(frozen=True)
class ReservationView:
    reservation: Reservation
    account: AccountView
    entry: Entry | None = None

    @property
    def entry_id(self) -> int | None:
        return self.entry.pk if self.entry else None


class ReservationResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="reservation.pk")
    status = serializers.ChoiceField(ReservationStatus.choices, source="reservation.status")
    amount = MoneyField(
        source="reservation.amount",
        currency_source="account.figures.currency",
        help_text="The held amount.",
    )
    committed_amount = MoneyField(
        source="reservation.committed_amount",
        currency_source="account.figures.currency",
        allow_null=True,
    )
    description = serializers.CharField(source="reservation.description")
    expires_at = serializers.DateTimeField(source="reservation.expires_at")
    created_at = serializers.DateTimeField(source="reservation.created_at")
    settled_at = serializers.DateTimeField(source="reservation.settled_at", allow_null=True)
    entry = serializers.IntegerField(
        source="entry_id", allow_null=True, help_text="The charge a commit booked."
    )
    account = AccountSerializer(help_text="The account and its figures right after this.")


# -- input -------------------------------------------------------------------------


class ChargeInput(AccountCurrencyInput):
    amount = MoneyInputField(help_text="The positive size of the charge.")
    description = serializers.CharField(max_length=500, allow_blank=True, default="")
    kind = serializers.ChoiceField(
        [(k.value, k.label) for k in SPEND_KINDS], default=EntryKind.CHARGE
    )


class ReservationInput(AccountCurrencyInput):
    amount = MoneyInputField(help_text="How much to hold.")
    description = serializers.CharField(max_length=500, allow_blank=True, default="")
    expires_in = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_HOLD_SECONDS,
        help_text="Seconds until the hold expires by itself (default one hour).",
    )


class CommitInput(AccountCurrencyInput):
    amount = MoneyInputField(
        required=False, help_text="The final charge, at most the hold (default: the hold)."
    )


class PaymentInput(AccountCurrencyInput):
    amount = MoneyInputField(help_text="Money received.")
    reference = serializers.CharField(
        max_length=200, allow_blank=True, default="", help_text="Bank or gateway reference."
    )
