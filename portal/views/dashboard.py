from django.shortcuts import render

from ..selectors import client_invoices, client_subscriptions, dashboard_context
from .base import client_required


@client_required
def dashboard(request):
    account = request.account
    context = dashboard_context(account)
    context["recent_invoices"] = client_invoices(request.client.pk)[:5]
    context["subscription_count"] = client_subscriptions(account.pk).count()
    return render(request, "portal/dashboard.html", context)
