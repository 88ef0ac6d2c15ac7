"""The security checklist of issue 6 that lives in settings.

API keys being stored hashed is covered in tests/api/test_auth.py (the raw key is shown
once; only its hash is kept).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import identify_hasher, make_password
from django.test import override_settings

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "billing_site.settings.production",
    "SECRET_KEY": "check-deploy-only-7Kq2vXw9Lp4Rz8Tn3Hm6Yb1Jc5Fd0Gs2Ue7Ai4Oy9Wk3",
    "ALLOWED_HOSTS": "billing.example.com",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}


def test_check_deploy_is_clean_with_the_production_settings():
    env = {**os.environ, **PRODUCTION_ENV}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_keep_cookies_and_transport_secure():
    env = {**os.environ, **PRODUCTION_ENV}
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ["
        "'DEBUG','SESSION_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY','CSRF_COOKIE_SECURE',"
        "'CSRF_COOKIE_HTTPONLY','SECURE_SSL_REDIRECT','SECURE_HSTS_SECONDS',"
        "'SECURE_REFERRER_POLICY','PASSWORD_HASHERS']}))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["CSRF_COOKIE_SECURE"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["PASSWORD_HASHERS"][0].endswith("Argon2PasswordHasher")


@pytest.mark.django_db
def test_a_new_users_password_is_hashed_with_argon2():
    # The test settings use MD5 for speed; the site's own list puts Argon2 first.
    from billing_site.settings import base

    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        user = UserFactory(username="argon")
        user.set_password("a long enough passphrase 42")
        user.save()
        assert identify_hasher(user.password).algorithm == "argon2"
        assert user.password.startswith("argon2$")
        assert user.check_password("a long enough passphrase 42")
        assert identify_hasher(make_password("x")).algorithm == "argon2"


def test_receipt_uploads_are_stored_privately(client):
    """Receipts go under PRIVATE_MEDIA_ROOT, which no static or media URL serves."""
    from invoicing import receipts

    private = Path(settings.PRIVATE_MEDIA_ROOT).resolve()
    static = Path(settings.STATIC_ROOT).resolve()
    assert static not in private.parents and private != static
    assert not settings.MEDIA_ROOT or Path(settings.MEDIA_ROOT).resolve() not in private.parents
    assert receipts._root().resolve() == private
    # The stored name is never reachable by URL (only the permission-checked views).
    name = f"{receipts.FOLDER}/{'a' * 32}.pdf"
    for prefix in ("/", "/static/", "/media/", "/private/"):
        assert client.get(prefix + name).status_code == 404
