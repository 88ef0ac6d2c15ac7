"""What every portal page shares: only a client's users get in, and see only their client."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from billing_site.exceptions import DomainError

from ..selectors import membership


def client_required(view):
    """Signed in and a member of a client: `request.client` and `request.account` are set.

    Staff without a membership get a page saying the portal is for customers (403).
    """

    @login_required(login_url="portal:login")
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        member = membership(request.user)
        if member is None:
            return render(request, "portal/no_membership.html", status=403)
        request.client = member.client
        request.account = member.client.account
        return view(request, *args, **kwargs)

    return wrapper


def refused(request, error: DomainError) -> None:
    """A service said no: show its sentence as it is."""
    messages.error(request, error.detail)
