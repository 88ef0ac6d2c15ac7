"""Beat's per-minute "expire holds" task, through a real broker and a real worker.

The calendar's own step expires holds too, but the minute-by-minute release of funds is
this task alone: beat sends its name with no arguments, a worker takes it from Redis and
releases every pending hold past its expiry, and nothing else.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from ledger.models import Reservation, ReservationStatus
from ledger.selectors import account_figures, ledger_mismatches
from ledger.services import ledger_commit, ledger_reserve
from tests.celery_worker import app, thread_worker, wait_until_idle
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

EXPIRE_TASK = "ledger.expire_reservations"  # the task of beat's "Expire holds" entry


def status_of(booking) -> str:
    return Reservation.objects.values_list("status", flat=True).get(pk=booking.reservation.pk)


def test_beats_minute_task_expires_the_holds_past_their_expiry_and_only_those():
    start = timezone.now().replace(microsecond=0)
    account = AccountFactory(funds="100")
    with time_machine.travel(start, tick=False):
        short = ledger_reserve(
            account_id=account.pk, amount="30", idempotency_key="short", expires_in=60
        )
        long = ledger_reserve(
            account_id=account.pk, amount="20", idempotency_key="long", expires_in=3600
        )
        settled = ledger_reserve(
            account_id=account.pk, amount="5", idempotency_key="settled", expires_in=60
        )
        ledger_commit(reservation_id=settled.reservation.pk)
    assert account_figures(account.pk).usable == Decimal("45")

    with time_machine.travel(start + timedelta(seconds=90)), thread_worker() as ran:
        app.send_task(EXPIRE_TASK)
        wait_until_idle()

    assert ran == [(EXPIRE_TASK, (), {})]
    assert status_of(short) == ReservationStatus.EXPIRED
    assert status_of(long) == ReservationStatus.PENDING
    assert status_of(settled) == ReservationStatus.COMMITTED
    figures = account_figures(account.pk)
    assert (figures.balance, figures.reserved, figures.usable) == (
        Decimal("95"),
        Decimal("20"),
        Decimal("75"),
    )
    assert not list(ledger_mismatches())


def test_the_task_run_twice_through_the_broker_expires_each_hold_once():
    start = timezone.now().replace(microsecond=0)
    account = AccountFactory(funds="100")
    with time_machine.travel(start, tick=False):
        holds = [
            ledger_reserve(
                account_id=account.pk, amount="10", idempotency_key=f"h{n}", expires_in=30
            )
            for n in range(4)
        ]

    with time_machine.travel(start + timedelta(minutes=1)), thread_worker() as ran:
        app.send_task(EXPIRE_TASK)
        app.send_task(EXPIRE_TASK)  # the next minute's firing, or a double firing
        wait_until_idle()

    assert [name for name, _, _ in ran] == [EXPIRE_TASK, EXPIRE_TASK]
    assert {status_of(hold) for hold in holds} == {ReservationStatus.EXPIRED}
    figures = account_figures(account.pk)
    assert (figures.reserved, figures.usable) == (Decimal("0"), Decimal("100"))
    assert not list(ledger_mismatches())
