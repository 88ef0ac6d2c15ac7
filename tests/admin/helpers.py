from django.urls import reverse


def account_url(account, action=None):
    if action is None:
        return reverse("admin:accounts_billingaccount_change", args=[account.pk])
    return reverse(f"admin:accounts_{action}", args=[account.pk])
