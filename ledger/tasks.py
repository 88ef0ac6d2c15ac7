"""Thin Celery entry points; the work is in ledger.services."""

from celery import shared_task

from .services import ledger_expire_reservations


@shared_task(name="ledger.expire_reservations", ignore_result=True)
def expire_reservations() -> int:
    """Release holds past their expiry (beat, every minute); safe to run twice."""
    return ledger_expire_reservations()
