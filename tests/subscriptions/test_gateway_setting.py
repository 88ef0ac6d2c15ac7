"""The test gateway books money nobody sent: it exists only where a setting enables it.

`PAYMENT_TEST_GATEWAY` is off unless a settings module turns it on: the local settings
(the demo) and the test settings do; production never does. Off, the gateway is not
offered anywhere and is refused by name from anyone, the system included.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from billing_site.exceptions import InvalidInput
from ledger.models import Entry
from portal.forms import PayForm, TopUpForm, UpsellForm
from subscriptions.gateways import gateway_choices
from subscriptions.models import CONFIRM_PERMISSION, PaymentRequest, Upsell
from subscriptions.services import (
    payment_request_for_invoice,
    payment_request_top_up,
    upsell_order,
)
from tests.api.conftest import client_for, new_key
from tests.factories import AccountFactory, staff_user
from tests.html import parse
from tests.portal.conftest import october_invoice

from .helpers import balance, on, order

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BANK_ONLY = [("bank_transfer", "Bank transfer")]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "billing_site.settings.production",
    "SECRET_KEY": "check-deploy-only-7Kq2vXw9Lp4Rz8Tn3Hm6Yb1Jc5Fd0Gs2Ue7Ai4Oy9Wk3",
    "ALLOWED_HOSTS": "billing.example.com",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}
SHOW_GATEWAYS = (
    "import django, json; django.setup(); from django.conf import settings; "
    "from subscriptions.gateways import gateway_choices; "
    "print(json.dumps([settings.PAYMENT_TEST_GATEWAY, gateway_choices()]))"
)


def settings_process(module_env: dict, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PAYMENT_TEST_GATEWAY"}
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", SHOW_GATEWAYS],
        cwd=ROOT,
        env={**env, **module_env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def test_gateway_off(settings):
    settings.PAYMENT_TEST_GATEWAY = False


@pytest.fixture
def clerk(db):
    """Billing staff: may confirm payments, the permission the test gateway asks for."""
    user = staff_user("Billing staff", username="clerk")
    assert user.has_perm(CONFIRM_PERMISSION)
    return user


# -- which settings enable it --------------------------------------------------------------


def test_production_settings_have_only_the_bank_transfer():
    result = settings_process(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [False, [list(choice) for choice in BANK_ONLY]]


def test_production_refuses_to_start_with_the_test_gateway_asked_for():
    result = settings_process(PRODUCTION_ENV, PAYMENT_TEST_GATEWAY="true")
    assert result.returncode != 0
    assert "PAYMENT_TEST_GATEWAY" in result.stderr
    assert "never" in result.stderr


def test_the_demo_and_the_tests_enable_it_explicitly(settings):
    result = settings_process({"DJANGO_SETTINGS_MODULE": "billing_site.settings.local"})
    assert result.returncode == 0, result.stderr
    enabled, choices = json.loads(result.stdout)
    assert enabled is True
    assert "test" in dict(choices)
    assert settings.PAYMENT_TEST_GATEWAY is True  # these tests' own settings


# -- off: not offered ----------------------------------------------------------------------


def test_off_it_is_not_among_the_gateways(test_gateway_off):
    assert gateway_choices() == BANK_ONLY


def test_off_the_portal_forms_do_not_offer_it_even_to_staff(test_gateway_off, clerk):
    forms = [
        UpsellForm(plans=[], add_ons=[], user=clerk),
        PayForm(user=clerk),
        TopUpForm(user=clerk),
    ]
    for form in forms:
        assert list(form.fields["gateway"].choices) == BANK_ONLY, type(form).__name__


def test_off_the_admin_does_not_list_it(settings, client, clerk):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    # One request through it while it was on: the list still shows that row, with its
    # label, but no longer offers the gateway to filter by.
    payment_request_top_up(account_id=account.pk, amount="5", gateway="test", requested_by=clerk)
    payment_request_top_up(
        account_id=account.pk, amount="5", gateway="bank_transfer", requested_by=clerk
    )
    settings.PAYMENT_TEST_GATEWAY = False
    client.force_login(clerk)

    page = parse(client.get(reverse("admin:subscriptions_paymentrequest_changelist")).content)

    by_gateway = [
        link.text
        for link in page.find("nav", id="changelist-filter").find_all("a")
        if "gateway" in (link.attrs.get("href") or "")
    ]
    assert by_gateway == ["Bank transfer"]
    labels = [cell.text for cell in page.find_all("td", class_="field-gateway_label")]
    assert sorted(labels) == ["Bank transfer", "Test gateway (pays at once)"]


# -- off: refused by name, from anyone -----------------------------------------------------


@pytest.mark.parametrize("who", ["staff", "system"])
def test_off_the_services_refuse_it_for_staff_and_for_the_system(
    test_gateway_off, clerk, basic, pro, who
):
    by = clerk if who == "staff" else None
    debtor = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    invoice = october_invoice(debtor)
    account = AccountFactory(funds="10")
    subscription = order(account, basic, "2026-06-01")
    before = (balance(account), balance(debtor), Entry.objects.count())
    attempts = [
        lambda: upsell_order(
            subscription_id=subscription.pk,
            to_plan="pro",
            pay_with="gateway",
            gateway="test",
            ordered_by=by,
        ),
        lambda: payment_request_for_invoice(invoice_id=invoice.pk, gateway="test", requested_by=by),
        lambda: payment_request_top_up(
            account_id=debtor.pk, amount="25", gateway="test", requested_by=by
        ),
    ]
    for attempt in attempts:
        with on("2026-06-11"), pytest.raises(InvalidInput) as refused:
            attempt()
        assert refused.value.field == "gateway"
        assert "'test' is not a payment gateway" in refused.value.detail
        assert "bank_transfer" in refused.value.detail

    assert not PaymentRequest.objects.exists()
    assert not Upsell.objects.exists()
    assert (balance(account), balance(debtor), Entry.objects.count()) == before


def test_off_the_api_answers_400_naming_the_gateway(test_gateway_off, clerk, basic, pro):
    account = AccountFactory(funds="10")
    subscription = order(account, basic, "2026-06-01")
    api = client_for(clerk)

    with on("2026-06-11"):
        response = api.post(
            f"/api/v1/subscriptions/{subscription.pk}/upsell/",
            {"plan": "pro", "pay_with": "gateway", "gateway": "test"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=new_key(),
        )

    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid", "gateway")
    assert "test" in body["detail"]
    assert not PaymentRequest.objects.exists()
    assert not Upsell.objects.exists()


# -- the upsell's default ----------------------------------------------------------------


def test_an_upsell_by_gateway_without_naming_one_waits_for_a_bank_transfer(basic, pro):
    """Even with the test gateway on, the system ordering a change by gateway without
    naming one books no money: it asks for a bank transfer and waits."""
    account = AccountFactory(funds="10")
    subscription = order(account, basic, "2026-06-01")
    before = (balance(account), Entry.objects.count())

    with on("2026-06-11"):
        upsell = upsell_order(subscription_id=subscription.pk, to_plan="pro", pay_with="gateway")

    assert upsell.status == "pending_payment"
    request = upsell.payment_request
    assert (request.gateway, request.status) == ("bank_transfer", "pending")
    assert (balance(account), Entry.objects.count()) == before
