"""Customers with portal logins, their invoices and plans, all made through the services."""

from datetime import date

import pytest
import time_machine

from accounts.services import client_add_user
from invoicing.models import Invoice
from invoicing.services import invoice_approve
from subscriptions.services import add_on_create, plan_create
from tests.factories import AccountFactory, staff_user
from tests.invoicing.helpers import at, charge, run_cycle

PASSWORD = "portal-secret-1234"


def portal_user(account, username):
    return client_add_user(
        client_id=account.client_id,
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
    )


def october_invoice(account, amount="100") -> Invoice:
    """October's charges, invoiced by the run on 1 November."""
    charge(account, amount, at(2026, 10, 10, 12), description="Dedicated server")
    run_cycle("2026-11-01")
    return Invoice.objects.get(account=account, period_start=date(2026, 10, 1))


@pytest.fixture
def credit_account(db):
    return AccountFactory(name="Acme", payment_mode="credit_limit", credit_limit="1000")


@pytest.fixture
def customer(credit_account):
    return portal_user(credit_account, "alice")


@pytest.fixture
def other_account(db):
    return AccountFactory(name="Rival", payment_mode="credit_limit", credit_limit="500")


@pytest.fixture
def other_customer(other_account):
    return portal_user(other_account, "bob")


@pytest.fixture
def invoice(credit_account):
    return october_invoice(credit_account)


@pytest.fixture
def other_invoice(other_account):
    return october_invoice(other_account, "50")


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


@pytest.fixture
def manager(db):
    return staff_user("Managers", username="manny")


@pytest.fixture
def static_ip(db):
    return add_on_create(code="static-ip", name="Static IP", price="5", currency="USD")


@pytest.fixture
def basic(static_ip):
    return plan_create(
        code="basic",
        name="Basic",
        price="10",
        currency="USD",
        trial_days=14,
        add_ons=["static-ip"],
    )


@pytest.fixture
def pro(static_ip):
    return plan_create(code="pro", name="Pro", price="40", currency="USD", add_ons=["static-ip"])


@pytest.fixture
def metered(db):
    return plan_create(
        code="metered", name="Metered", price="31", currency="USD", charging="postpay"
    )


def approve_erp(invoice, by, **extra):
    with time_machine.travel(at(2026, 11, 3, 10), tick=False):
        return invoice_approve(
            invoice_id=invoice.pk, due_date=date(2026, 11, 20), approved_by=by, **extra
        )
