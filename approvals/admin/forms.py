"""The decision forms and the settings form: they collect input, the services decide."""

from django import forms

from accounts.admin.forms import show_domain_error
from billing_site.exceptions import DomainError

from ..models import (
    MAX_COMMENT_LENGTH,
    MAX_DUE_REMINDER_DAYS,
    MAX_PAYMENT_TERM_DAYS,
    SystemSettings,
)
from ..services import settings_clean


def _comment(*, required: bool, help_text: str) -> forms.CharField:
    return forms.CharField(
        required=required,
        max_length=MAX_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "class": "vLargeTextField"}),
        help_text=help_text,
    )


class ApproveForm(forms.Form):
    comment = _comment(required=False, help_text="Optional; kept in the decision history.")


class DeclineForm(forms.Form):
    comment = _comment(
        required=True,
        help_text="Why the account is declined; kept in the decision history. The client "
        "is never shown it: they only ever see that the account is under review.",
    )


class SystemSettingsForm(forms.ModelForm):
    """The settings page's form; `settings_clean` judges each changed value."""

    class Meta:
        model = SystemSettings
        fields = [
            "postpaid_permission_mode",
            "external_invoicing",
            "default_payment_term_days",
            "due_reminder_days",
        ]
        widgets = {
            "postpaid_permission_mode": forms.RadioSelect,
            "default_payment_term_days": forms.NumberInput(
                attrs={"min": 0, "max": MAX_PAYMENT_TERM_DAYS, "class": "vIntegerField"}
            ),
            "due_reminder_days": forms.NumberInput(
                attrs={"min": 0, "max": MAX_DUE_REMINDER_DAYS, "class": "vIntegerField"}
            ),
        }

    def clean(self):
        cleaned = super().clean()
        for name in self.changed_data:
            if name in cleaned:
                try:
                    settings_clean(**{name: cleaned[name]})
                except DomainError as exc:
                    show_domain_error(self, exc)
        return cleaned
