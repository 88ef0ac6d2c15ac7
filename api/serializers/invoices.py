"""Invoices as the API shows them (API.md: invoices rows)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from invoicing.models import InvoiceStatus

from .money import MoneyField


class InvoiceLineSerializer(serializers.Serializer):
    description = serializers.CharField()
    kind = serializers.CharField()
    quantity = serializers.IntegerField(help_text="How many ledger entries the line sums.")
    amount = MoneyField(currency_source="invoice.currency", help_text="Signed, like the ledger.")


class InvoicePaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    external_total = serializers.SerializerMethodField()
    receipt_url = serializers.SerializerMethodField()

    def get_external_total(self, payment) -> dict | None:
        return None  # set by an external ERP; not supported yet

    def get_receipt_url(self, payment) -> str | None:
        return None


class InvoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    account = serializers.IntegerField(source="account_id")
    client_name = serializers.CharField(source="account.client.name")
    kind = serializers.CharField()
    status = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    issued_on = serializers.DateField()
    due_date = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    subtotal = MoneyField(help_text="Σ of the billed entries (signed, six places).")
    rounding = MoneyField(help_text="Booked as a rounding entry.")
    total = MoneyField(help_text="Amount owed, rounded to the currency's minor unit.")
    amount_paid = MoneyField()
    outstanding = MoneyField()
    lines = InvoiceLineSerializer(many=True)
    payment = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    @extend_schema_field(InvoicePaymentSerializer(allow_null=True))
    def get_payment(self, invoice):
        payment = getattr(invoice, "payment", None)
        return None if payment is None else InvoicePaymentSerializer(payment).data

    def get_pdf_url(self, invoice) -> str:
        return f"/api/v1/invoices/{invoice.pk}/pdf/"


class InvoiceFilter(serializers.Serializer):
    account = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(InvoiceStatus.choices, required=False)
