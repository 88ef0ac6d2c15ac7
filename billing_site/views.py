"""Pages of the site itself (the apps keep their own views)."""

from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def start_page(request):
    """Where `make run` sends a browser: the way to the admin, the portal and the API."""
    return render(request, "billing_site/start.html")
