"""Login throttling for the admin and the portal, counted in Django's shared cache.

The policy, three limits per 15-minute window (each window starts at its first attempt):

- **one username from one address** (`USERNAME_LIMIT`, 5): someone guessing one user's
  password is stopped after 5 tries, but only at their own address: the user still logs
  in from anywhere else, so one anonymous visitor can never lock a user out.
- **one address, any usernames** (`IP_LIMIT`, 20): a password sprayer trying many
  usernames from one address is stopped there (an office behind a NAT shares it, so the
  limit is above one person's typos).
- **one username from every address together** (`USERNAME_ALL_ADDRESSES_LIMIT`, 30): a
  distributed attack on one username (many addresses, a few tries each) is slowed to 30
  guesses a window. Once it is reached, the username is refused from addresses it has not
  logged in from lately; addresses with a successful login in the last 30 days
  (`KNOWN_ADDRESS_SECONDS`) keep only their own limits, so the user is not locked out of
  their usual places. One address can never reach this limit alone: its own failures on
  the username stop at 5 a window, at most two of its windows overlap one of these.

Every attempt takes its slot before the password is checked (`cache.add` + `cache.incr`,
atomic in Redis and in the per-process locmem cache), so however many requests arrive at
once, no more passwords are checked than the limit; a right password gives its slots
back. Refused attempts check no password and count nothing further. Nothing is stored on
the user: the windows end by themselves, no lockout is ever undone by hand.

Counters live in the default cache: production refuses to start without `CACHE_URL`
naming Redis (`billing_site/settings/production.py`), so every web process shares them;
the per-process locmem cache serves a laptop and the tests. The client's address is the
peer's (`REMOTE_ADDR`) unless `TRUSTED_PROXY_COUNT` says how many proxies of ours append
to `X-Forwarded-For` (see `client_ip`). docs/operations.md has the operator's view.
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

USERNAME_LIMIT = 5
IP_LIMIT = 20
USERNAME_ALL_ADDRESSES_LIMIT = 30
WINDOW_SECONDS = 15 * 60
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
# A count outlives its window a little, so an attempt that read the window's start just
# before it ended still finds its count (never a fresh key without an expiry).
_COUNT_GRACE_SECONDS = 120
REFUSAL = "Too many failed attempts; try again in %(minutes)s minute%(plural)s."


def client_ip(request) -> str:
    """The client's address: the peer, or behind our proxies the right-most untrusted one.

    With `TRUSTED_PROXY_COUNT = n` (n proxies of ours in front, the nearest being the
    peer), each of them appends the address it received the request from to the header
    named by `TRUSTED_PROXY_HEADER` (X-Forwarded-For): the n-th entry from the right is
    the client as our outermost proxy saw it. Entries further left are whatever the client
    sent and are never read. Unconfigured (0), the header is ignored. An unparsable entry
    falls back to the peer address.
    """
    if request is None:
        return "-"
    peer = (request.META.get("REMOTE_ADDR") or "-").strip()
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return peer
    forwarded = request.META.get(settings.TRUSTED_PROXY_HEADER, "")
    chain = [part.strip() for part in forwarded.split(",") if part.strip()] + [peer]
    candidate = chain[max(0, len(chain) - 1 - trusted)]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def _address_key(ip: str) -> str:
    """An IPv6 client is counted by its /64, the block one subscriber gets."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _name_key(username: str) -> str:
    return hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Window:
    """A count of attempts in a window that starts at its first attempt.

    The count's key carries the window's start, so a count is only ever incremented in
    the window it belongs to and `incr` never meets a key that expired under it.
    """

    key: str
    limit: int

    def _start(self) -> float:
        start_key = f"{self.key}:start"
        for _ in range(3):
            cache.add(start_key, time.time(), timeout=WINDOW_SECONDS)
            start = cache.get(start_key)
            if start is not None:
                return start
        return time.time()

    def _count_key(self, start: float) -> str:
        return f"{self.key}:n:{round(start * 1_000_000)}"

    def take(self) -> tuple[str, int]:
        """Take a slot: (its count's key, 0), or (the key, seconds until the window ends)
        when the window is full."""
        start = self._start()
        count_key = self._count_key(start)
        cache.add(count_key, 0, timeout=WINDOW_SECONDS + _COUNT_GRACE_SECONDS)
        try:
            taken = cache.incr(count_key)
        except ValueError:  # evicted between add and incr: count this one from scratch
            cache.add(count_key, 1, timeout=WINDOW_SECONDS + _COUNT_GRACE_SECONDS)
            taken = 1
        if taken <= self.limit:
            return count_key, 0
        return count_key, max(1, math.ceil(start + WINDOW_SECONDS - time.time()))

    def reset(self) -> None:
        cache.delete(f"{self.key}:start")


def _known_key(username: str, ip: str) -> str:
    return f"login:known:{_name_key(username)}:{_address_key(ip)}"


@dataclass
class LoginAttempt:
    """The slots one login attempt holds in the windows that apply to it."""

    username: str
    ip: str
    pair: _Window
    taken: list[str]  # the count keys of the slots it holds

    def give_back(self) -> None:
        for count_key in self.taken:
            try:
                cache.decr(count_key)
            except ValueError:  # its window ended meanwhile
                pass
        self.taken = []

    def succeeded(self) -> None:
        """A right password: the attempt's slots come back, the username's count from this
        address starts again, and the address is known for the username."""
        self.give_back()
        self.pair.reset()
        cache.set(_known_key(self.username, self.ip), 1, timeout=KNOWN_ADDRESS_SECONDS)


def login_attempt(username: str, ip: str) -> tuple[LoginAttempt | None, int]:
    """Take this attempt's slots: (the attempt, 0), or (None, seconds to wait) if refused.

    In order: the username from this address, the address, then (unless the address
    logged in as this user lately) the username from every address. A refusal gives back
    the slots already taken, so a refused attempt counts nowhere else.
    """
    name, address = _name_key(username), _address_key(ip)
    pair = _Window(f"login:pair:{name}:{address}", USERNAME_LIMIT)
    windows = [pair, _Window(f"login:ip:{address}", IP_LIMIT)]
    if not cache.get(_known_key(username, ip)):
        windows.append(_Window(f"login:user:{name}", USERNAME_ALL_ADDRESSES_LIMIT))
    attempt = LoginAttempt(username=username, ip=ip, pair=pair, taken=[])
    for window in windows:
        count_key, wait = window.take()
        if wait:
            # The refusing window keeps its over-limit slot: it is full until it ends.
            attempt.give_back()
            return None, wait
        attempt.taken.append(count_key)
    return attempt, 0


def refusal(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return REFUSAL % {"minutes": minutes, "plural": "" if minutes == 1 else "s"}


class ThrottleMixin:
    """Refuses a login form once its username or address failed too often."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        attempt, wait = login_attempt(username, client_ip(self.request))
        if attempt is None:
            raise forms.ValidationError(refusal(wait), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError as error:
            # A wrong password (or a non-staff login on the admin) keeps its slots; any
            # other refusal, such as an inactive account a backend let through, gives
            # them back: it was not a guess.
            if not any(e.code == "invalid_login" for e in error.error_list):
                attempt.give_back()
            raise
        except BaseException:
            attempt.give_back()
            raise
        if self.user_cache is None:  # no password was checked (a field left empty)
            attempt.give_back()
        else:
            attempt.succeeded()
        return cleaned


class ThrottledAuthenticationForm(ThrottleMixin, AuthenticationForm):
    """Django's login form with throttling: for the portal and any other login page."""


class ThrottledAdminAuthenticationForm(ThrottleMixin, AdminAuthenticationForm):
    """The admin's login form (staff only) with throttling; see `BillingSiteConfig`."""
