"""Login throttling for the admin and the portal, counted in Django's cache.

Failed logins are counted per username (5 in 15 minutes) and per client address (20 in
15 minutes, so one office behind a NAT is not locked out by one person's typos, yet a
password sprayer trying many usernames is). Once a limit is reached the form refuses
even the right password until the window ends; nothing is stored on the user, so there
is no permanent lockout to undo by hand.

Counters live in the default cache (locmem per process by default; set `CACHE_URL` to a
Redis URL in production so every web process shares them).
"""

import hashlib
import math
import time

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

USERNAME_LIMIT = 5
IP_LIMIT = 20
WINDOW_SECONDS = 15 * 60
REFUSAL = "Too many failed attempts; try again in %(minutes)s minute%(plural)s."


def client_ip(request) -> str:
    """The peer address; behind a proxy, configure it to set REMOTE_ADDR (no header trust)."""
    return (request.META.get("REMOTE_ADDR") or "-") if request is not None else "-"


def _keys(username: str, ip: str) -> list[tuple[str, int]]:
    name = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    return [(f"login-fail:user:{name}", USERNAME_LIMIT), (f"login-fail:ip:{ip}", IP_LIMIT)]


def _window(key: str, now: float) -> dict | None:
    window = cache.get(key)
    if window and window["until"] > now:
        return window
    return None


def seconds_blocked(username: str, ip: str) -> int:
    """How long this username or address must still wait; 0 when it may try."""
    now = time.time()
    waits = [
        window["until"] - now
        for key, limit in _keys(username, ip)
        if (window := _window(key, now)) and window["count"] >= limit
    ]
    return math.ceil(max(waits)) if waits else 0


def login_failed(username: str, ip: str) -> None:
    now = time.time()
    for key, _limit in _keys(username, ip):
        window = _window(key, now) or {"count": 0, "until": now + WINDOW_SECONDS}
        window["count"] += 1
        cache.set(key, window, timeout=math.ceil(window["until"] - now))


def login_succeeded(username: str, ip: str) -> None:
    """A right password clears the username's count; the address keeps its count."""
    cache.delete(_keys(username, ip)[0][0])


def refusal(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return REFUSAL % {"minutes": minutes, "plural": "" if minutes == 1 else "s"}


class ThrottleMixin:
    """Refuses a login form once its username or address failed too often."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        wait = seconds_blocked(username, ip)
        if wait:
            raise forms.ValidationError(refusal(wait), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError as error:
            # An inactive or non-staff login with the right password is not a guess.
            if any(e.code == "invalid_login" for e in error.error_list):
                login_failed(username, ip)
            raise
        login_succeeded(username, ip)
        return cleaned


class ThrottledAuthenticationForm(ThrottleMixin, AuthenticationForm):
    """Django's login form with throttling: for the portal and any other login page."""


class ThrottledAdminAuthenticationForm(ThrottleMixin, AdminAuthenticationForm):
    """The admin's login form (staff only) with throttling; see `BillingSiteConfig`."""
