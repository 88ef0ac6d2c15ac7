"""A charge belongs to the month of its service period, even when booked after it ended."""

from datetime import date

import pytest
import time_machine

from invoicing.models import Invoice
from ledger.selectors import account_figures
from ledger.services import ledger_charge
from tests.factories import AccountFactory

from .helpers import at, run_month

pytestmark = pytest.mark.django_db


def test_a_fee_charged_in_arrears_on_the_first_is_on_the_month_it_paid_for():
    account = AccountFactory(payment_mode="postpaid")
    with time_machine.travel(at(2026, 11, 1, 0, 3), tick=False):
        ledger_charge(
            account_id=account.pk,
            amount="30",
            description="Backup plan, October 2026",
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
            idempotency_key="arrears-october",
        )
        ledger_charge(
            account_id=account.pk,
            amount="7",
            description="Usage of November",
            idempotency_key="usage-november",
        )
    run_month(date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    assert (invoice.period_start, invoice.total) == (date(2026, 10, 1), 30)
    # November's own charge waits for November's invoice.
    assert account_figures(account.pk).unbilled == -7
