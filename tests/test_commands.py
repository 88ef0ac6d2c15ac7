from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ledger.models import Balance, Reservation, ReservationStatus
from ledger.services import ledger_charge, ledger_reserve
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_verify_ledger_passes_on_healthy_books():
    account = AccountFactory(funds="10")
    ledger_charge(account_id=account.pk, amount="2.5", idempotency_key="c1")
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "Ledger OK: 1 accounts and 0 invoices checked." in out.getvalue()


def test_verify_ledger_exits_non_zero_and_lists_a_corrupted_balance_row():
    account = AccountFactory(funds="10")
    Balance.objects.filter(account=account).update(balance="9.000000")
    err = StringIO()
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("verify_ledger", stderr=err)
    assert f"account {account.pk}: balance row says 9.000000, entries say 10.000000" in (
        err.getvalue()
    )


def test_run_billing_cycle_refuses_a_malformed_date():
    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD"):
        call_command("run_billing_cycle", "--date", "2026-02-30")


def test_run_billing_cycle_expires_holds_due_by_that_date_once():
    account = AccountFactory(funds="10")
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        hold = ledger_reserve(
            account_id=account.pk, amount="4", idempotency_key="h1", expires_in=60
        ).reservation
    day = timezone.localdate().isoformat()
    out = StringIO()
    call_command("run_billing_cycle", "--date", day, stdout=out)
    assert f"Billing cycle for {day} done (expire holds: 1, " in out.getvalue()
    hold = Reservation.objects.get(pk=hold.pk)  # protected FSM fields refuse refresh_from_db
    assert hold.status == ReservationStatus.EXPIRED
    assert Balance.objects.get(account=account).reserved == 0

    again = StringIO()
    call_command("run_billing_cycle", "--date", day, stdout=again)
    assert "(expire holds: 0, " in again.getvalue()
    assert Reservation.objects.filter(status=ReservationStatus.EXPIRED).count() == 1


def test_run_billing_cycle_for_an_earlier_date_leaves_holds_that_expire_later():
    account = AccountFactory(funds="10")
    ledger_reserve(account_id=account.pk, amount="4", idempotency_key="h1", expires_in=3600)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    out = StringIO()
    call_command("run_billing_cycle", "--date", yesterday, stdout=out)
    assert "(expire holds: 0, " in out.getvalue()


def test_beat_schedules_exist_after_migrate():
    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert tasks["ledger.expire_reservations"] is True
    assert tasks["billing.run_billing_cycle"] is True


def test_healthz_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
