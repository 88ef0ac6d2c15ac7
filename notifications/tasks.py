"""Thin Celery entry points for notifications.

Each task only sends sooner what a sweeper would send anyway: the delivery rows are
written with the events, so a task lost with the broker loses nothing.
"""

from celery import shared_task

from .services import (
    deliveries_retry_due,
    emails_retry_due,
    event_dispatch,
    events_deliver_webhooks,
    events_send_emails,
)


@shared_task(name="notifications.send_event_emails", ignore_result=True, acks_late=True)
def send_event_emails(event_ids: list[int]) -> int:
    """After commit: the new events' e-mails."""
    return events_send_emails(event_ids)


@shared_task(name="notifications.deliver_event_webhooks", ignore_result=True, acks_late=True)
def deliver_event_webhooks(event_ids: list[int]) -> int:
    """After commit: the new events' webhooks."""
    return events_deliver_webhooks(event_ids)


@shared_task(name="notifications.dispatch_events", ignore_result=True, acks_late=True)
def dispatch_events(event_ids: list[int]) -> None:
    """Both channels in one task; kept for messages queued before the channels split."""
    for event_id in event_ids:
        event_dispatch(event_id)


@shared_task(name="notifications.retry_due_deliveries", ignore_result=True)
def retry_due_deliveries() -> int:
    """Beat, every minute: webhook deliveries that are due (new or backed off)."""
    return deliveries_retry_due()


@shared_task(name="notifications.retry_due_emails", ignore_result=True)
def retry_due_emails() -> int:
    """Beat, every minute: e-mails that are due (new or backed off)."""
    return emails_retry_due()
