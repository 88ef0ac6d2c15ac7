"""One ceiling for every amount the books hold: an entry, a balance, unbilled, the holds.

The columns hold NUMERIC(20, 6); an amount must be smaller than MAX_AMOUNT (10^13), and
so must every figure a booking leaves behind, so no sum the books make (an invoice's
total, amount due) can outgrow its column. A booking that would cross it is refused
before anything is written, with the limit in the message, and never wedges the
account: money received, or a smaller spend, still goes through.
"""

import uuid
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_site.money import MAX_AMOUNT
from invoicing.models import Invoice
from invoicing.services import invoicing_run_month
from ledger.exceptions import CeilingReached, PaymentCeilingReached, SpendRefused
from ledger.models import Balance, Entry, Reservation
from ledger.selectors import ledger_mismatches, spend_room, spend_room_sql
from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_receive_payment,
    ledger_release,
    ledger_reserve,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

MICRO = Decimal("0.000001")
LARGEST = MAX_AMOUNT - MICRO  # 9999999999999.999999, the largest single amount


def _key() -> str:
    return str(uuid.uuid4())


def _books(account):
    row = Balance.objects.get(account=account)
    return (row.balance, row.unbilled, row.reserved, row.entry_count)


def test_a_postpaid_charge_that_would_take_the_balance_past_the_ceiling_is_refused():
    account = AccountFactory(payment_mode="postpaid")
    ledger_charge(account_id=account.pk, amount=LARGEST, idempotency_key=_key())
    before = _books(account)

    with pytest.raises(CeilingReached) as refused:
        ledger_charge(account_id=account.pk, amount=LARGEST, idempotency_key=_key())

    assert isinstance(refused.value, SpendRefused)  # callers that handle refusals handle it
    assert refused.value.code == "ceiling_exceeded"
    assert refused.value.field == "amount"
    assert "10,000,000,000,000" in refused.value.detail
    assert _books(account) == before


def test_a_smaller_charge_that_fits_still_goes_through_after_a_refusal():
    account = AccountFactory(payment_mode="postpaid")
    ledger_charge(account_id=account.pk, amount="6000000000000", idempotency_key=_key())
    with pytest.raises(CeilingReached):
        ledger_charge(account_id=account.pk, amount="6000000000000", idempotency_key=_key())

    booking = ledger_charge(account_id=account.pk, amount="3000000000000", idempotency_key=_key())

    assert booking.figures.balance == Decimal("-9000000000000")


def test_an_account_at_the_ceiling_takes_money_and_spends_again_once_invoiced():
    account = AccountFactory(payment_mode="postpaid")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        ledger_charge(account_id=account.pk, amount=LARGEST, idempotency_key=_key())
        with pytest.raises(CeilingReached):
            ledger_charge(account_id=account.pk, amount="1", idempotency_key=_key())
        # Money received always goes through; the month's charges wait for their invoice.
        ledger_receive_payment(account_id=account.pk, amount="100", idempotency_key=_key())
        with pytest.raises(CeilingReached, match="unbilled"):
            ledger_charge(account_id=account.pk, amount="1", idempotency_key=_key())
    invoicing_run_month(run_date=date(2026, 11, 1))

    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 11, 2, 12))):
        booking = ledger_charge(account_id=account.pk, amount="99", idempotency_key=_key())

    # The invoice rounded its total up to 10^13 itself, one millionth booked as rounding.
    assert Invoice.objects.get(account=account).total == MAX_AMOUNT
    assert booking.figures.balance == -MAX_AMOUNT + 1
    assert booking.figures.unbilled == Decimal("-99")
    assert list(ledger_mismatches()) == []


def test_the_largest_spend_that_fits_is_booked_and_one_millionth_more_is_not():
    account = AccountFactory(payment_mode="postpaid")
    ledger_charge(account_id=account.pk, amount="5000000000000", idempotency_key=_key())
    room = MAX_AMOUNT - Decimal("5000000000000") - MICRO

    with pytest.raises(CeilingReached) as refused:
        ledger_charge(account_id=account.pk, amount=room + MICRO, idempotency_key=_key())
    booking = ledger_charge(account_id=account.pk, amount=room, idempotency_key=_key())

    assert f"{room:,}" in refused.value.detail  # what could still be spent
    assert booking.figures.balance == -LARGEST


def test_unbilled_is_kept_under_the_ceiling_even_when_the_balance_has_room():
    account = AccountFactory(payment_mode="postpaid")
    ledger_receive_payment(account_id=account.pk, amount="9000000000000", idempotency_key=_key())
    ledger_charge(account_id=account.pk, amount=LARGEST, idempotency_key=_key())

    with pytest.raises(CeilingReached, match="unbilled"):
        ledger_charge(account_id=account.pk, amount="1", idempotency_key=_key())

    assert _books(account)[1] == -LARGEST


def test_a_hold_counts_against_the_ceiling_so_its_commit_always_fits():
    account = AccountFactory(payment_mode="postpaid")
    hold = ledger_reserve(account_id=account.pk, amount=LARGEST, idempotency_key=_key())

    with pytest.raises(CeilingReached):
        ledger_charge(account_id=account.pk, amount="1", idempotency_key=_key())
    with pytest.raises(CeilingReached):
        ledger_reserve(account_id=account.pk, amount="1", idempotency_key=_key())
    committed = ledger_commit(reservation_id=hold.reservation.pk)

    assert committed.figures.balance == -LARGEST
    assert committed.figures.reserved == 0
    assert list(ledger_mismatches()) == []


def test_a_released_hold_gives_its_room_back():
    account = AccountFactory(payment_mode="postpaid")
    hold = ledger_reserve(account_id=account.pk, amount=LARGEST, idempotency_key=_key())
    ledger_release(reservation_id=hold.reservation.pk)

    booking = ledger_charge(account_id=account.pk, amount=LARGEST, idempotency_key=_key())

    assert booking.figures.balance == -LARGEST


def test_money_received_past_the_ceiling_is_refused_and_a_smaller_payment_is_not():
    account = AccountFactory()
    ledger_receive_payment(account_id=account.pk, amount=LARGEST - 10, idempotency_key=_key())
    before = _books(account)

    with pytest.raises(PaymentCeilingReached) as refused:
        ledger_receive_payment(account_id=account.pk, amount="11", idempotency_key=_key())
    assert _books(account) == before
    booking = ledger_receive_payment(account_id=account.pk, amount="10", idempotency_key=_key())

    assert refused.value.code == "ceiling_exceeded"
    assert refused.value.field == "amount"
    assert "10,000,000,000,000" in refused.value.detail
    assert booking.figures.balance == LARGEST
    assert not Entry.objects.filter(account=account, amount=Decimal("11")).exists()


def test_a_refused_hold_writes_nothing():
    account = AccountFactory(payment_mode="postpaid")
    ledger_charge(account_id=account.pk, amount="9999999999990", idempotency_key=_key())
    before = _books(account)

    with pytest.raises(CeilingReached):
        ledger_reserve(account_id=account.pk, amount="10", idempotency_key=_key())

    assert _books(account) == before
    assert not Reservation.objects.filter(account=account).exists()


figures = st.decimals(
    min_value=-MAX_AMOUNT + MICRO, max_value=MAX_AMOUNT - MICRO, places=6, allow_nan=False
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    balance=figures,
    unbilled=figures,
    reserved=st.decimals(min_value=Decimal(0), max_value=MAX_AMOUNT - MICRO, places=6),
)
def test_the_sql_ceiling_gives_the_same_room_as_the_python_one(balance, unbilled, reserved):
    expected = spend_room(balance=balance, unbilled=unbilled, reserved=reserved)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {spend_room_sql('b')} FROM "
            "(SELECT %s::numeric(20, 6) AS balance, %s::numeric(20, 6) AS unbilled, "
            "%s::numeric(20, 6) AS reserved) b",
            [balance, unbilled, reserved],
        )
        (actual,) = cursor.fetchone()
    assert actual == expected
