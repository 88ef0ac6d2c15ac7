"""The subscriptions step in the billing calendar: before invoicing, once per date."""

from datetime import date
from decimal import Decimal

import pytest

from billing_site.cycle import STEPS
from invoicing.models import Invoice
from subscriptions.tasks import renew_subscriptions
from tests.factories import AccountFactory
from tests.invoicing.helpers import footprint, run_cycle

from .helpers import fresh, on, order

pytestmark = pytest.mark.django_db


def test_renewals_run_after_expiring_holds_and_before_invoicing():
    names = [step.name for step in STEPS]
    assert names.index("Expire holds") < names.index("Renew subscriptions")
    assert names.index("Renew subscriptions") < names.index("Invoice last month")


def test_the_daily_cycle_renews_and_invoices_and_a_rerun_does_nothing(basic, metered):
    with on("2026-06-01", hour=1):
        prepaid = AccountFactory(funds="50")
        postpaid = AccountFactory(payment_mode="postpaid")
    prepay = order(prepaid, basic, "2026-06-11")
    postpay = order(postpaid, metered, "2026-06-16")

    out = run_cycle("2026-07-01")
    assert "renew subscriptions: 2" in out
    assert fresh(prepay).paid_until == date(2026, 7, 31)
    june = Invoice.objects.get(account=postpaid)
    # 16–30 June: 15 of 30 days of 31 USD.
    assert (june.period_start, june.total) == (date(2026, 6, 1), Decimal("15.50"))
    assert fresh(postpay).paid_until == date(2026, 6, 30)

    before = footprint()
    assert "renew subscriptions: 0" in run_cycle("2026-07-01")
    assert "renew subscriptions: 0" in run_cycle("2026-07-02")
    assert footprint() == before


def test_the_task_runs_the_step_for_a_date(basic):
    account = AccountFactory(funds="50")
    subscription = order(account, basic, "2026-06-11")
    with on("2026-07-01", hour=0):
        assert renew_subscriptions("2026-07-01") == 1
        assert renew_subscriptions("2026-07-01") == 0
    assert fresh(subscription).paid_until == date(2026, 7, 31)
