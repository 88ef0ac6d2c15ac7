"""Steps shared by the subscriptions tests: act on a chosen day, run the step, read back."""

from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import time_machine

from ledger.models import Entry, EntryKind
from ledger.selectors import account_figures
from subscriptions.models import Subscription
from subscriptions.services import subscription_order, subscriptions_renew
from tests.invoicing.helpers import at


@contextmanager
def on(day: str, hour: int = 9):
    """Travel to `day` (YYYY-MM-DD) at `hour`, clock stopped."""
    d = date.fromisoformat(day)
    with time_machine.travel(at(d.year, d.month, d.day, hour), tick=False):
        yield d


def order(account, plan, day: str, **kwargs) -> Subscription:
    with on(day):
        return subscription_order(account_id=account.pk, plan=plan, **kwargs)


def renew(day: str) -> int:
    """The subscriptions step as the calendar runs it, shortly after midnight."""
    with on(day, hour=0) as d:
        return subscriptions_renew(run_date=d)


def fresh(subscription) -> Subscription:
    return Subscription.objects.select_related("plan", "account").get(pk=subscription.pk)


def renewals(account) -> list[tuple]:
    """(amount, period_start, period_end) of the account's subscription charges, oldest first."""
    return list(
        Entry.objects.filter(account=account, kind=EntryKind.RENEWAL)
        .order_by("created_at", "id")
        .values_list("amount", "period_start", "period_end")
    )


def balance(account) -> Decimal:
    return account_figures(account.pk).balance


def d(value: str) -> date:
    return date.fromisoformat(value)
