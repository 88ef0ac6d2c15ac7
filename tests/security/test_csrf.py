"""CSRF on every form: the middleware is on, every POST form carries the token, and only
the token-authenticated API is exempt."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parents[2]
POST_FORM = re.compile(r"<form\b[^>]*method=[\"']post[\"'][^>]*>(.*?)</form>", re.I | re.S)


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_the_csrf_middleware_is_on():
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def test_every_post_form_in_our_templates_carries_the_csrf_token():
    missing, forms = [], 0
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for form in POST_FORM.finditer(text):
            forms += 1
            if "csrf_token" not in form.group(0):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, missing
    assert forms >= 5  # the scan found the admin's and the portal's forms


def test_only_the_token_authenticated_api_is_csrf_exempt():
    exempt = [
        route
        for route, callback in _walk(get_resolver().url_patterns)
        if getattr(callback, "csrf_exempt", False) and not route.startswith(("api/v1/", "healthz"))
    ]
    assert not exempt, exempt


@pytest.mark.django_db
def test_portal_login_without_a_csrf_token_is_refused():
    assert any(route.startswith("portal/") for route, _ in _walk(get_resolver().url_patterns))
    from accounts.services import client_add_user

    account = AccountFactory()
    client_add_user(
        client_id=account.client_id,
        username="alice",
        email="alice@example.com",
        password="a long enough passphrase 42",
    )
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/portal/login/", {"username": "alice", "password": "a long enough passphrase 42"}
    )
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
