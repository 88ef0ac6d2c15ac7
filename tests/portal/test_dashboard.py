import pytest
from django.urls import reverse

from tests.factories import AccountFactory
from tests.invoicing.helpers import run_cycle

from .conftest import portal_user

pytestmark = pytest.mark.django_db

LABELS = ["Usable", "Reserved", "Expecting invoice", "Amount due", "Current balance"]


def dashboard(client, account, username="carol"):
    client.force_login(portal_user(account, username))
    return client.get(reverse("portal:dashboard")).content.decode()


def test_prepaid_customer_sees_the_five_figures_and_the_mode(client):
    body = dashboard(client, AccountFactory(funds="250"))
    for label in LABELS:
        assert f">{label}<" in body
    assert "250.00" in body
    assert "Prepaid: you spend the money on your balance" in body
    assert "Top up your balance" in body


def test_postpaid_usable_is_unlimited(client):
    body = dashboard(client, AccountFactory(payment_mode="postpaid"))
    assert "Unlimited" in body
    assert "Postpaid (pay-as-you-go): billed monthly, no limit" in body


def test_credit_limit_mode_names_the_limit(client):
    body = dashboard(client, AccountFactory(payment_mode="credit_limit", credit_limit="1000"))
    assert "Credit limit of 1,000.00 USD" in body


def test_blocked_credit_says_which_invoice_to_pay(client, credit_account, invoice):
    run_cycle("2026-11-16")  # due on the 15th: overdue, credit blocked
    body = dashboard(client, credit_account)
    assert (
        f"Your credit is blocked because invoice {invoice.number} (due 15 Nov 2026) is overdue: "
        "pay it to unblock"
    ) in body
    assert reverse("portal:invoice_detail", args=[invoice.pk]) in body
