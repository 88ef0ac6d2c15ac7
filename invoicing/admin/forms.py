from django import forms
from django.utils import timezone

from billing_site.money import LEDGER_PLACES, MAX_DIGITS

from ..receipts import MAX_BYTES as MAX_RECEIPT_BYTES


class ApproveForm(forms.Form):
    """closed → approved by hand, as the external ERP does through the API."""

    due_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="When the payment is due. The invoice is approved once its payment has a "
        "due date.",
    )
    external_total = forms.DecimalField(
        required=False,
        max_digits=MAX_DIGITS,
        decimal_places=LEDGER_PLACES,
        widget=forms.NumberInput(attrs={"step": "any", "class": "vTextField"}),
        help_text="Only when the ERP's own invoice has another total or currency: the client "
        "then sees this amount and pays by other methods, not from the balance.",
    )
    external_currency = forms.CharField(
        required=False,
        max_length=3,
        widget=forms.TextInput(attrs={"size": 4, "placeholder": "EUR"}),
        help_text="ISO 4217 code of the external total; required with it.",
    )
    receipt_url = forms.CharField(
        required=False,
        max_length=500,
        label="Receipt link",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text="Optional http(s) link to the ERP's invoice document.",
    )

    def clean_due_date(self):
        due = self.cleaned_data["due_date"]
        if due is not None and due < timezone.localdate():
            raise forms.ValidationError("The due date is in the past.")
        return due


class CancelForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the invoice is voided; the client's ledger is credited with its total.",
    )


class ReceiptForm(forms.Form):
    file = forms.FileField(
        label="Receipt (PDF)",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"}),
        help_text=f"The ERP's invoice document, a PDF of at most {MAX_RECEIPT_BYTES // 2**20} "
        "MiB. It replaces the receipt attached before, and the client's PDF download serves it.",
    )


class PaymentApproveForm(forms.Form):
    """Nothing to fill in: the page says what approving books, the button confirms it."""


class PaymentCancelForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why; kept in the payment's history.",
    )
