"""Invoices as the API shows them (docs/design.md §6)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from invoicing.models import InvoiceStatus, PaymentStatus
from invoicing.receipts import MAX_BYTES as MAX_RECEIPT_BYTES

from .money import MoneyField, MoneyInputField, MoneySerializer, money_out
from .strict import JsonInput, QueryIntegerField


class InvoiceLineSerializer(serializers.Serializer):
    description = serializers.CharField()
    kind = serializers.CharField()
    quantity = serializers.IntegerField(help_text="How many ledger entries the line sums.")
    amount = MoneyField(currency_source="invoice.currency", help_text="Signed, like the ledger.")


def pdf_url(invoice_id: int) -> str:
    return f"/api/v1/invoices/{invoice_id}/pdf/"


class InvoicePaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text=" / ".join(PaymentStatus.values))
    due_date = serializers.DateField(
        allow_null=True,
        help_text="Null while the external ERP has not approved the invoice: such a payment "
        "can be neither paid nor approved.",
    )
    external_total = serializers.SerializerMethodField(
        help_text="The total of the ERP's own invoice, when it gave one: what the client pays."
    )
    payable_from_balance = serializers.SerializerMethodField(
        help_text="False when the external total or currency differs from the invoice's: "
        "money on the balance does not pay it, only other payment methods."
    )
    receipt_url = serializers.SerializerMethodField(
        help_text="The ERP's invoice document: the PDF download when a file was attached, "
        "else the ERP's link; null when neither."
    )

    @extend_schema_field(MoneySerializer(allow_null=True))
    def get_external_total(self, payment):
        return money_out(payment.external_total, payment.external_currency)

    def get_payable_from_balance(self, payment) -> bool:
        return not payment.differs_from(payment.invoice)

    def get_receipt_url(self, payment) -> str | None:
        if payment.receipt_file:
            return pdf_url(payment.invoice_id)
        return payment.receipt_url or None


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
    erp_managed = serializers.BooleanField(
        help_text="Invoiced by the external ERP: it approves the invoice and its payment."
    )
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
        return pdf_url(invoice.pk)


class InvoiceFilter(serializers.Serializer):
    """Query filters; an empty `?status=` filters nothing."""

    account = QueryIntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(InvoiceStatus.choices, required=False, allow_blank=True)


class PaymentSerializer(InvoicePaymentSerializer):
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    invoice = InvoiceSerializer()


class InvoiceApproveInput(JsonInput):
    due_date = serializers.DateField(
        help_text="When the payment is due (YYYY-MM-DD): today or later."
    )
    external_total = MoneyInputField(
        required=False,
        allow_null=True,
        help_text="The total of the ERP's own invoice, > 0, with at most its currency's "
        "minor-unit places; a money object may carry its currency.",
    )
    external_currency = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="ISO 4217 code of the external total; required with it.",
    )
    receipt_url = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="An http(s) link to the ERP's invoice document.",
    )

    def validate(self, attrs):
        total = attrs.get("external_total")
        currency = attrs.get("external_currency")
        if total is not None and total.currency:
            if currency and currency.strip().upper() != total.currency:
                raise serializers.ValidationError(
                    {
                        "external_currency": f"The external total is in {total.currency}, "
                        f"not {currency}: send one currency."
                    }
                )
            currency = total.currency
        attrs["external_total"] = total.amount if total is not None else None
        attrs["external_currency"] = currency
        return attrs


class ReceiptInput(serializers.Serializer):
    file = serializers.FileField(
        help_text=f"The ERP's invoice as a PDF, at most {MAX_RECEIPT_BYTES // 2**20} MiB."
    )


class ReceiptForPeriodInput(ReceiptInput):
    account = QueryIntegerField(min_value=1)
    period_start = serializers.DateField(help_text="First day of the invoice's billing period.")


class PaymentCancelInput(JsonInput):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=300, help_text="Why; kept in the history."
    )
