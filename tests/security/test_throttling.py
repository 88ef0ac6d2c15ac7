"""Login throttling: exact counts under concurrency, per-address limits that cannot lock
a user out, the client address behind our proxies, and a shared cache in production."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from billing_site import throttling
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
LOGIN = reverse("admin:login")
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def checked():
    """Every password checked and found wrong (Django's `user_login_failed`)."""
    seen = []
    lock = threading.Lock()

    def count(sender, credentials, **kwargs):
        with lock:
            seen.append(credentials.get("username"))

    user_login_failed.connect(count, dispatch_uid="test-throttling-checked")
    yield seen
    user_login_failed.disconnect(dispatch_uid="test-throttling-checked")


@pytest.fixture
def staff(db):
    return UserFactory(username="billie", is_staff=True)


def _login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def _logged_in(response) -> bool:
    return response.status_code == 302


def _refused(response) -> bool:
    return response.status_code == 200 and "Too many failed attempts" in response.content.decode()


def _in_parallel(count, work):
    """Run `work(n)` in `count` threads released together; each closes its connection."""
    barrier = threading.Barrier(count)
    errors = []

    def run(n):
        try:
            barrier.wait(timeout=30)
            work(n)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def _form_attempt(username, password, ip="203.0.113.5"):
    request = RequestFactory().post("/portal/login/", REMOTE_ADDR=ip)
    form = throttling.ThrottledAuthenticationForm(
        request, data={"username": username, "password": password}
    )
    return form.is_valid(), form


@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_wrong_passwords_check_exactly_the_limit(checked):
    UserFactory(username="billie", is_staff=True)

    _in_parallel(30, lambda n: _form_attempt("billie", f"wrong-{n}"))

    assert len(checked) == throttling.USERNAME_LIMIT
    valid, form = _form_attempt("billie", PASSWORD)
    assert not valid
    assert form.errors["__all__"][0].startswith("Too many failed attempts")


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_from_one_address_stop_at_the_address_limit(checked):
    _in_parallel(40, lambda n: _form_attempt(f"guess{n}", "wrong"))

    assert len(checked) == throttling.IP_LIMIT


def test_one_anonymous_address_cannot_lock_a_user_out_of_other_addresses(staff, checked):
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(40):
        _login(attacker, "billie", "wrong")
    assert len(checked) == throttling.USERNAME_LIMIT
    assert _refused(_login(attacker, "billie", PASSWORD))

    assert _logged_in(_login(Client(REMOTE_ADDR="198.51.100.7"), "billie", PASSWORD))


def test_a_distributed_attack_on_one_username_is_slowed_but_known_addresses_get_in(staff, checked):
    office = Client(REMOTE_ADDR="198.51.100.7")
    assert _logged_in(_login(office, "billie", PASSWORD))  # the office is a known address
    office.logout()
    per_address = throttling.USERNAME_LIMIT
    attackers = throttling.USERNAME_ALL_ADDRESSES_LIMIT // per_address + 2
    for n in range(attackers):
        bot = Client(REMOTE_ADDR=f"192.0.2.{n + 1}")
        for _ in range(per_address):
            _login(bot, "billie", "wrong")

    # No more guesses than the username's limit across every address together.
    assert len(checked) == throttling.USERNAME_ALL_ADDRESSES_LIMIT
    assert _refused(_login(Client(REMOTE_ADDR="192.0.2.200"), "billie", "wrong"))
    assert len(checked) == throttling.USERNAME_ALL_ADDRESSES_LIMIT
    # The user still logs in from where they logged in before, and other users anywhere.
    assert _logged_in(_login(office, "billie", PASSWORD))
    UserFactory(username="manny", is_staff=True)
    assert _logged_in(_login(Client(REMOTE_ADDR="192.0.2.201"), "manny", PASSWORD))


def test_a_right_password_gives_its_slot_back(staff):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(throttling.IP_LIMIT + 5):
        assert _logged_in(_login(client, "billie", PASSWORD))
        client.logout()


# -- the client's address ---------------------------------------------------------------


def _request(remote, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().post("/admin/login/", REMOTE_ADDR=remote, **extra)


def test_the_forwarded_header_is_ignored_unless_proxies_are_configured(staff):
    assert throttling.client_ip(_request("10.0.0.1", "203.0.113.5")) == "10.0.0.1"
    # Rotating a made-up header does not escape the address's limit.
    for n in range(throttling.IP_LIMIT):
        _login(Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"), f"g{n}", "x")
    fresh_header = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.250")
    assert _refused(_login(fresh_header, "billie", PASSWORD))


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "client"),
    [
        (1, "10.0.0.1", "203.0.113.5", "203.0.113.5"),
        # What the client wrote itself (left of our proxy's entry) is never read.
        (1, "10.0.0.1", "192.0.2.66, 203.0.113.5", "203.0.113.5"),
        (2, "10.0.0.2", "192.0.2.66, 203.0.113.5, 10.0.0.1", "203.0.113.5"),
        # Fewer entries than proxies: the farthest address we have.
        (2, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.1", "", "10.0.0.1"),
        (1, "10.0.0.1", "not-an-address", "10.0.0.1"),
        (1, "10.0.0.1", " 2001:DB8::1 ", "2001:db8::1"),
    ],
)
def test_the_client_is_the_right_most_address_our_proxies_did_not_write(
    proxies, remote, forwarded, client
):
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert throttling.client_ip(_request(remote, forwarded)) == client


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_our_proxy_one_visitor_cannot_lock_out_the_others(staff, checked):
    """Every request arrives from the proxy's address; the limits follow the client."""
    for n in range(throttling.IP_LIMIT + 10):
        spoofing = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.5")
        _login(spoofing, f"guess{n}", "wrong")
    assert len(checked) == throttling.IP_LIMIT

    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert _logged_in(_login(colleague, "billie", PASSWORD))


def test_ipv6_clients_are_counted_by_their_64_block(staff, checked):
    for n in range(throttling.IP_LIMIT + 5):
        _login(Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}"), f"guess{n}", "wrong")
    assert len(checked) == throttling.IP_LIMIT
    assert _logged_in(_login(Client(REMOTE_ADDR="2001:db8:1:3::1"), "billie", PASSWORD))


# -- production needs a shared cache ------------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "billing_site.settings.production",
    "SECRET_KEY": "check-deploy-only-7Kq2vXw9Lp4Rz8Tn3Hm6Yb1Jc5Fd0Gs2Ue7Ai4Oy9Wk3",
    "ALLOWED_HOSTS": "billing.example.com",
}
READ_CACHE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.CACHES['default']['BACKEND'])"
)


def _production(cache_url):
    env = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}
    env.update(PRODUCTION_ENV)
    if cache_url is not None:
        env["CACHE_URL"] = cache_url
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", READ_CACHE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "cache_url",
    [None, "locmemcache://", "dbcache://cache_table", "filecache:///tmp/cache", "dummycache://"],
)
def test_production_refuses_to_start_without_a_shared_cache(cache_url):
    result = _production(cache_url)
    assert result.returncode != 0
    assert "CACHE_URL must name the Redis cache every web process shares" in result.stderr


def test_production_starts_with_redis_as_its_cache():
    result = _production("redis://127.0.0.1:6379/1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("RedisCache")
