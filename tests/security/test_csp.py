"""Content-Security-Policy on every HTML page: the admin, the portal, the start page and
the API reference.

Scripts run only from the site's own files or with the page's nonce (never
'unsafe-inline', never eval); nothing is loaded from another origin; no plugin, no
framing by another site, no <base> or form target elsewhere. The pages keep working
under it: every inline script carries the nonce the header names, every asset they load
is the site's own. PDFs and JSON are not documents the policy is about, and the
downloads keep working (the browser-level check is tests/e2e/test_csp_pages.py).
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.helpers import account_url
from tests.factories import AccountFactory, staff_user
from tests.html import parse
from tests.portal.conftest import PASSWORD, october_invoice, portal_user

pytestmark = pytest.mark.django_db

HEADER = "Content-Security-Policy"


def policy(response) -> dict[str, list[str]]:
    assert HEADER in response, f"no {HEADER} on {response.request['PATH_INFO']}"
    directives = {}
    for part in response[HEADER].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict_scripts(response) -> None:
    """The policy forbids inline script and eval, and the page needs neither."""
    directives = policy(response)
    scripts = directives.get("script-src", directives["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, scripts
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    for name, values in directives.items():
        assert not any(v.startswith(("http:", "https:", "*")) or "//" in v for v in values), (
            name,
            values,
        )
    nonces = {v[len("'nonce-") : -1] for v in scripts if v.startswith("'nonce-")}
    page = parse(response.content.decode())
    for script in page.find_all("script"):
        if "src" in script.attrs:
            assert script.attrs["src"].startswith("/"), script.attrs["src"]
        elif script.attrs.get("type", "text/javascript") in ("text/javascript", "module"):
            assert script.attrs.get("nonce") in nonces, (
                f"an inline script without the nonce {nonces}"
            )
    for link in page.find_all("link", href=True):
        assert link.attrs["href"].startswith("/"), link.attrs["href"]


@pytest.fixture
def staff():
    client = Client()
    client.force_login(staff_user("Billing staff", "Managers"))
    return client


@pytest.fixture
def customer():
    account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    portal_user(account, "alice")
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    return client, account


def test_the_start_page_has_the_policy():
    response = Client().get("/")

    assert response.status_code == 200
    assert_strict_scripts(response)


@pytest.mark.parametrize("url", ["/admin/login/", "/portal/login/"])
def test_login_pages_have_the_policy(url):
    response = Client().get(url)

    assert response.status_code == 200
    assert_strict_scripts(response)


def test_admin_pages_have_the_policy(staff):
    account = AccountFactory()
    for url in (
        reverse("admin:index"),
        reverse("admin:accounts_billingaccount_changelist"),
        account_url(account),
        reverse("admin:invoicing_invoice_changelist"),
    ):
        response = staff.get(url)
        assert response.status_code == 200, url
        assert_strict_scripts(response)


def test_the_admins_inline_script_runs_with_the_nonce(staff):
    """The convert-mode page's script (show the limit only for credit_limit mode)."""
    response = staff.get(account_url(AccountFactory(), "convert"))

    assert response.status_code == 200
    assert_strict_scripts(response)
    inline = [
        s for s in parse(response.content.decode()).find_all("script") if "src" not in s.attrs
    ]
    assert inline, "the page's own script is gone"
    nonce = re.search(r"'nonce-([^']+)'", response[HEADER]).group(1)
    assert all(s.attrs["nonce"] == nonce for s in inline)


def test_each_page_gets_its_own_nonce(staff):
    url = account_url(AccountFactory(), "convert")

    first = re.search(r"'nonce-([^']+)'", staff.get(url)[HEADER]).group(1)
    second = re.search(r"'nonce-([^']+)'", staff.get(url)[HEADER]).group(1)

    assert first != second


def test_portal_pages_have_the_policy(customer):
    client, _ = customer
    for name in ("portal:dashboard", "portal:invoices", "portal:subscriptions"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert_strict_scripts(response)


def test_the_portals_order_form_script_runs_with_the_nonce(customer):
    client, _ = customer

    response = client.get(reverse("portal:subscription_order"))

    assert response.status_code == 200
    assert_strict_scripts(response)
    page = parse(response.content.decode())
    code = [s for s in page.find_all("script") if "src" not in s.attrs and "type" not in s.attrs]
    assert code and all(s.attrs.get("nonce") for s in code)


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_api_reference_has_the_policy(url):
    response = Client().get(url)

    assert response.status_code == 200
    assert_strict_scripts(response)


def test_redoc_may_start_its_search_worker():
    directives = policy(Client().get("/api/v1/redoc/"))

    assert directives["worker-src"] == ["'self'", "blob:"]


def test_pdf_downloads_still_work(staff, customer):
    client, account = customer
    invoice = october_invoice(account, "42")

    portal = client.get(reverse("portal:invoice_pdf", args=[invoice.pk]))
    admin = staff.get(reverse("admin:invoicing_invoice_pdf", args=[invoice.pk]))

    for response in (portal, admin):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body.startswith(b"%PDF-")
        assert "attachment" in response["Content-Disposition"]
        # A document policy meant for HTML pages would only get in the PDF viewer's way.
        assert HEADER not in response
