"""Calendar months, proration to the day, and what a client can actually transfer.

The two roundings this app does live here (everything else rounds in
`billing_site.money`): `prorate`, a monthly price times the days of a span over the days
of its month, half-up to the ledger's six places; and `payable`, an amount asked for
through a gateway, rounded up to the currency's minor unit so the money received always
covers the charge it pays for.
"""

from calendar import monthrange
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from billing_site.money import LEDGER_QUANTUM, currency_places


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
    days = (end - start).days + 1
    total = days_in_month(start)
    if days == total:
        return Decimal(monthly).quantize(LEDGER_QUANTUM)
    return (Decimal(monthly) * days / total).quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_UP)


def month_spans(start: date, end: date):
    """Split start..end (inclusive) into (first, last) spans, one per calendar month."""
    while start <= end:
        last = min(month_end(start), end)
        yield start, last
        start = last + timedelta(days=1)


def payable(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded up to the currency's minor unit: 6.666667 USD → 6.67."""
    quantum = Decimal(1).scaleb(-currency_places(currency))
    return amount.quantize(quantum, rounding=ROUND_CEILING).quantize(LEDGER_QUANTUM)
