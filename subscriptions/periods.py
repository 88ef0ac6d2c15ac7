"""Calendar months, proration to the day, and what a client can actually transfer.

The roundings themselves are `billing_site.money.share` (half-up to six places) and
`round_up_to_minor_unit` (what a gateway asks for always covers the charge).
"""

from calendar import monthrange
from datetime import date, timedelta
from decimal import Decimal

from billing_site.money import round_up_to_minor_unit, share


def month_start(day: date) -> date:
    return day.replace(day=1)


def days_in_month(day: date) -> int:
    return monthrange(day.year, day.month)[1]


def month_end(day: date) -> date:
    return day.replace(day=days_in_month(day))


def next_month_start(day: date) -> date:
    return month_end(day) + timedelta(days=1)


def previous_month_end(day: date) -> date:
    return month_start(day) - timedelta(days=1)


def prorate(monthly: Decimal, start: date, end: date) -> Decimal:
    """`monthly` × days in start..end (inclusive) / days in the month, six places half-up.

    The span lies in one calendar month; a whole month is exactly `monthly`.
    """
    if (start.year, start.month) != (end.year, end.month) or start > end:
        raise ValueError(f"{start}..{end} is not a span within one month.")
    return share(Decimal(monthly), (end - start).days + 1, days_in_month(start))


def month_spans(start: date, end: date):
    """Split start..end (inclusive) into (first, last) spans, one per calendar month."""
    while start <= end:
        last = min(month_end(start), end)
        yield start, last
        start = last + timedelta(days=1)


def payable(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded up to the currency's minor unit: 6.666667 USD → 6.67."""
    return round_up_to_minor_unit(amount, currency)
