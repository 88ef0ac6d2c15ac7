"""Renewals, confirmations and upsells racing on PostgreSQL book everything once."""

from decimal import Decimal

import pytest

from billing_site.exceptions import DomainError
from ledger.exceptions import SpendRefused
from ledger.models import Entry
from ledger.selectors import ledger_mismatches
from subscriptions.models import PaymentRequest
from subscriptions.services import (
    payment_request_confirm,
    subscriptions_renew,
    upsell_order,
)
from tests.factories import AccountFactory, UserFactory
from tests.ledger.test_concurrency import run_in_threads

from .helpers import d, fresh, on, order, renew

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_eight_simultaneous_runs_renew_each_subscription_once(basic, metered):
    prepaid = [AccountFactory(funds="100") for _ in range(3)]
    subscriptions = [order(a, basic, "2026-06-11") for a in prepaid]
    postpaid = AccountFactory(payment_mode="postpaid")
    subscriptions.append(order(postpaid, metered, "2026-06-11"))

    with on("2026-07-01", hour=0):
        moved = run_in_threads(8, lambda n: subscriptions_renew(run_date=d("2026-07-01")))

    assert sum(moved) == 4
    assert [fresh(s).paid_until for s in subscriptions] == [d("2026-07-31")] * 3 + [d("2026-06-30")]
    # Per prepay subscription: June at the order, July once; the postpay one: June's arrears.
    assert Entry.objects.filter(kind="renewal").count() == 3 * 2 + 1
    assert not list(ledger_mismatches())


def test_four_staff_confirming_one_transfer_book_the_money_once(basic):
    account = AccountFactory(funds="10")
    order(account, basic, "2026-06-11")
    renew("2026-07-01")
    request = PaymentRequest.objects.get()
    clerk = UserFactory(is_superuser=True)  # the groups do not survive a flushed database

    def confirm(n):
        try:
            payment_request_confirm(request_id=request.pk, confirmed_by=clerk)
        except DomainError:
            return False
        return True

    with on("2026-07-02"):
        results = run_in_threads(4, confirm)

    assert sorted(results) == [False, False, False, True]
    assert Entry.objects.filter(idempotency_key=f"gateway:{request.pk}").count() == 1
    assert not list(ledger_mismatches())


def test_two_upgrades_racing_for_the_same_funds_never_overdraw(basic, pro):
    account = AccountFactory(funds="50")
    first = order(account, basic, "2026-06-01")
    second = order(account, basic, "2026-06-01")  # 30 left; each upgrade costs 20

    def upgrade(n):
        try:
            upsell_order(subscription_id=[first, second][n].pk, to_plan="pro")
        except SpendRefused:
            return False
        return True

    with on("2026-06-11"):
        results = run_in_threads(2, upgrade)

    assert sorted(results) == [False, True]
    assert Entry.objects.filter(account=account, kind="charge").count() == 1
    assert sum(e.amount for e in Entry.objects.filter(account=account)) == Decimal("10")
