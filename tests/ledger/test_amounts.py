"""Every money-moving service refuses an amount it cannot book exactly, and writes nothing."""

from decimal import Decimal

import pytest

from billing_site.exceptions import InvalidInput
from ledger.models import Balance, Entry, Reservation
from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_receive_payment,
    ledger_reserve,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

BAD_AMOUNTS = [
    0,
    "0",
    "0.000000",
    "-1",
    "-0.000001",
    "NaN",
    Decimal("NaN"),
    "Infinity",
    "1e9999",
    "0.0000001",
    "1.1234567",
    0.5,
    1.0,
    "ten",
    "",
    None,
]


def _books(account):
    row = Balance.objects.get(account=account)
    return (row.balance, row.unbilled, row.reserved, row.entry_count)


@pytest.fixture
def account():
    return AccountFactory(payment_mode="postpaid")


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_charge_refuses_a_bad_amount_and_writes_nothing(account, amount):
    with pytest.raises(InvalidInput) as refused:
        ledger_charge(account_id=account.pk, amount=amount, idempotency_key="c1")

    assert refused.value.field == "amount"
    assert _books(account) == (0, 0, 0, 0)
    assert not Entry.objects.exists()


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_payment_refuses_a_bad_amount_and_writes_nothing(account, amount):
    with pytest.raises(InvalidInput) as refused:
        ledger_receive_payment(account_id=account.pk, amount=amount, idempotency_key="p1")

    assert refused.value.field == "amount"
    assert _books(account) == (0, 0, 0, 0)


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_reserve_refuses_a_bad_amount_and_holds_nothing(account, amount):
    with pytest.raises(InvalidInput) as refused:
        ledger_reserve(account_id=account.pk, amount=amount, idempotency_key="h1")

    assert refused.value.field == "amount"
    assert not Reservation.objects.exists()
    assert _books(account) == (0, 0, 0, 0)


@pytest.mark.parametrize("amount", [a for a in BAD_AMOUNTS if a is not None])
def test_commit_refuses_a_bad_amount_and_leaves_the_hold_pending(account, amount):
    hold = ledger_reserve(account_id=account.pk, amount="5", idempotency_key="h1").reservation

    with pytest.raises(InvalidInput) as refused:
        ledger_commit(reservation_id=hold.pk, amount=amount)

    assert refused.value.field == "amount"
    assert Reservation.objects.get(pk=hold.pk).status == "pending"
    assert _books(account) == (0, 0, Decimal("5"), 0)


@pytest.mark.parametrize("amount", ["0.000001", "123456789.123456"])
def test_amounts_of_up_to_fifteen_digits_are_booked_exactly(account, amount):
    booking = ledger_charge(account_id=account.pk, amount=amount, idempotency_key="c1")

    assert Entry.objects.get(pk=booking.entry.pk).amount == -Decimal(amount)
    assert _books(account)[0] == -Decimal(amount)


def test_the_largest_amount_is_booked_to_the_last_digit(account):
    # 19 significant digits: exact in NUMERIC(20, 6); an 8-byte float keeps about 15.
    amount = "9999999999999.999999"

    booking = ledger_charge(account_id=account.pk, amount=amount, idempotency_key="c1")

    assert Entry.objects.get(pk=booking.entry.pk).amount == -Decimal(amount)
    assert _books(account)[0] == -Decimal(amount)
