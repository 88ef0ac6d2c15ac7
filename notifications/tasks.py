"""Thin Celery entry points for notifications."""

from celery import shared_task

from .services import deliveries_retry_due, event_dispatch


@shared_task(name="notifications.dispatch_events", ignore_result=True, acks_late=True)
def dispatch_events(event_ids: list[int]) -> None:
    for event_id in event_ids:
        event_dispatch(event_id)


@shared_task(name="notifications.retry_due_deliveries", ignore_result=True)
def retry_due_deliveries() -> int:
    """Beat, every minute: webhook deliveries whose backoff has passed."""
    return deliveries_retry_due()
