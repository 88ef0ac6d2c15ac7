import pytest

from subscriptions.services import add_on_create, plan_create


@pytest.fixture
def static_ip(db):
    return add_on_create(code="static-ip", name="Static IP", price="5", currency="USD")


@pytest.fixture
def basic(static_ip):
    """Prepay, 10 USD a month, a 14-day trial, offers the static IP add-on."""
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
    """Prepay, 40 USD a month."""
    return plan_create(code="pro", name="Pro", price="40", currency="USD", add_ons=["static-ip"])


@pytest.fixture
def metered(static_ip):
    """Postpay, 31 USD a month (1 USD a day in a 31-day month), a 7-day trial."""
    return plan_create(
        code="metered",
        name="Metered",
        price="31",
        currency="USD",
        charging="postpay",
        trial_days=7,
        add_ons=["static-ip"],
    )


@pytest.fixture
def metered_plus(static_ip):
    return plan_create(
        code="metered-plus",
        name="Metered Plus",
        price="62",
        currency="USD",
        charging="postpay",
        add_ons=["static-ip"],
    )
