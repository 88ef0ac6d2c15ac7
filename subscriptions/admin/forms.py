"""Forms of the subscription admin's buttons: they collect input for a service."""

from django import forms


class ReasonForm(forms.Form):
    """Suspend, resume, cancel: the reason goes into the history with the user's name."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the history with your name and the time.",
    )
