"""The portal's own login limit: 5 failed sign-ins per username and IP in 15 minutes.

Counted in Django's cache (no account lockout: another address, or the same one after
the window, may try again). Replace with the site-wide throttling module once it exists.
"""

from django.core.cache import cache

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
REFUSAL = (
    "Too many failed sign-in attempts for this username. "
    "Wait 15 minutes and try again, or ask your administrator to reset your password."
)


def _key(username: str, ip: str) -> str:
    return f"portal-login-failures:{(username or '').strip().lower()}:{ip or '-'}"


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def login_blocked(username: str, ip: str) -> bool:
    return cache.get(_key(username, ip), 0) >= MAX_FAILURES


def login_failed(username: str, ip: str) -> None:
    key = _key(username, ip)
    if cache.add(key, 1, WINDOW_SECONDS):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_SECONDS)


def login_succeeded(username: str, ip: str) -> None:
    cache.delete(_key(username, ip))
