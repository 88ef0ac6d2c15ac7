"""Proration to the day: the monthly difference × days left (today included) / days in month."""

from datetime import date
from decimal import Decimal

import pytest

from subscriptions.periods import prorate
from subscriptions.services import upsell_quote
from tests.factories import AccountFactory

from .helpers import on, order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-06-11", "20.000000"),  # 30-day month: 30 × 20 / 30
        ("2026-07-11", "20.322581"),  # 31-day month: 30 × 21 / 31 = 20.3225806…
        ("2028-02-11", "19.655172"),  # leap February: 30 × 19 / 29 = 19.6551724…
        ("2026-02-11", "19.285714"),  # common February: 30 × 18 / 28 = 19.2857142…
        ("2026-06-30", "1.000000"),  # the last day: one day of 30
        ("2026-06-01", "30.000000"),  # the first day: the whole difference
    ],
)
def test_upgrade_from_10_to_40_is_prorated_to_the_day(basic, pro, day, expected):
    account = AccountFactory(funds="100")
    subscription = order(account, basic, day)
    with on(day):
        quote = upsell_quote(subscription_id=subscription.pk, to_plan="pro")
    assert quote == Decimal(expected)
    assert quote.as_tuple().exponent == -6


def test_an_add_on_is_prorated_like_a_plan_change(basic):
    account = AccountFactory(funds="100")
    subscription = order(account, basic, "2026-07-11")
    with on("2026-07-11"):
        # 5 × 21 / 31 = 3.3870967…
        assert upsell_quote(subscription_id=subscription.pk, add_on="static-ip") == Decimal(
            "3.387097"
        )


def test_proration_rounds_half_up_at_the_sixth_place():
    # 0.000015 / 30 = 0.0000005 exactly: half-up gives 0.000001 (half-even would give 0).
    assert prorate(Decimal("0.000015"), date(2026, 6, 30), date(2026, 6, 30)) == Decimal("0.000001")
    assert prorate(Decimal("0.000014"), date(2026, 6, 30), date(2026, 6, 30)) == Decimal("0.000000")


def test_a_whole_month_is_the_monthly_price_exactly():
    assert prorate(Decimal("10"), date(2028, 2, 1), date(2028, 2, 29)) == Decimal("10.000000")


def test_a_span_across_two_months_is_refused():
    with pytest.raises(ValueError, match="within one month"):
        prorate(Decimal("10"), date(2026, 6, 30), date(2026, 7, 1))


def test_ordering_a_prepay_plan_mid_month_charges_the_days_left_including_today(basic):
    account = AccountFactory(funds="100")
    order(account, basic, "2026-06-11")
    # 10 × 20 / 30
    assert account.entries.get(kind="renewal").amount == Decimal("-6.666667")
