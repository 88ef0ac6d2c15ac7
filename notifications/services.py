"""Record events in the outbox and deliver them by email and signed webhooks.

`event_record` runs inside the transaction of the change it reports; delivery is queued
with `transaction.on_commit`, so a rolled-back change never notifies anyone. Webhook
attempts back off (`BACKOFF`) and a beat task retries the due ones, so a worker restart
loses nothing; staff can resend any delivery from the admin.
"""

import base64
import binascii
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing_site.bulk import insert_rows
from billing_site.exceptions import InvalidInput, NotFound, require_perm

from .models import (
    DeliveryAttempt,
    DeliveryStatus,
    EmailNotification,
    Event,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    new_message_id,
)
from .signing import headers

# Seconds to wait after the 1st, 2nd, … failed attempt; after the last, give up.
BACKOFF = [30, 120, 600, 3600, 6 * 3600, 24 * 3600]
TIMEOUT_SECONDS = 10


def _endpoints_for(event_type: str) -> list[WebhookEndpoint]:
    return [e for e in WebhookEndpoint.objects.filter(is_active=True) if event_type in e.events]


def _queue_dispatch(event_ids: list[int]) -> None:
    from .tasks import dispatch_events  # tasks import the services

    transaction.on_commit(lambda: dispatch_events.delay(event_ids))


def event_record(*, type: str, data: dict, account_id=None, dedupe_key=None) -> Event | None:
    """Write one event in the caller's transaction; None if `dedupe_key` was used before."""
    if type not in EventType.values:
        raise ValueError(f"unknown event type {type!r}")
    try:
        with transaction.atomic():
            event = Event.objects.create(
                type=type, data=data, account_id=account_id, dedupe_key=dedupe_key
            )
    except IntegrityError:
        if dedupe_key and Event.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
        for endpoint in _endpoints_for(type)
    )
    _queue_dispatch([event.pk])
    return event


def events_record_bulk(event_type: str, items: list[tuple[dict, int | None]]) -> list[int]:
    """The set-based twin of `event_record` for the monthly run (no dedupe keys): one
    event of `event_type` per (data, account id); returns the events' ids."""
    if event_type not in EventType.values:
        raise ValueError(f"unknown event type {event_type!r}")
    if not items:
        return []
    now = timezone.now()
    ids = insert_rows(
        Event,
        ["message_id", "type", "data", "account_id", "occurred_at"],
        [(new_message_id(), event_type, data, account_id, now) for data, account_id in items],
        returning_ids=True,
    )
    insert_rows(
        WebhookDelivery,
        ["event_id", "endpoint_id", "next_attempt_at"],
        [
            (event_id, endpoint.pk, now)
            for endpoint in _endpoints_for(event_type)
            for event_id in ids
        ],
    )
    _queue_dispatch(ids)
    return ids


def invoice_event(event_type: str, invoice, *, dedupe_key=None) -> Event | None:
    from .payloads import invoice_summary

    return event_record(
        type=event_type,
        data=invoice_summary(invoice),
        account_id=invoice.account_id,
        dedupe_key=dedupe_key,
    )


def invoice_events_bulk(event_type: str, invoices) -> list[int]:
    from .payloads import invoice_summary

    return events_record_bulk(event_type, [(invoice_summary(i), i.account_id) for i in invoices])


def account_event(event_type: str, account) -> Event | None:
    from .payloads import account_data

    return event_record(type=event_type, data=account_data(account), account_id=account.pk)


# -- delivery -------------------------------------------------------------------------


def event_body(event: Event) -> str:
    return json.dumps(
        {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": event.data},
        separators=(",", ":"),
        sort_keys=True,
    )


def email_send(event: Event) -> EmailNotification | None:
    """Email the client's billing address once per event (text and HTML).

    Events recorded without an account (a declined manual operation: the client is only
    ever told "under review") go to webhooks alone.
    """
    if event.account_id is None:
        return None
    if EmailNotification.objects.filter(event=event).exists():
        return None
    client = event.account.client
    context = {"event": event, "data": event.data, "client": client, "type": event.type}
    subject = render_to_string("notifications/email/subject.txt", context).strip()
    note = EmailNotification.objects.create(event=event, to=client.email, subject=subject[:300])
    message = EmailMultiAlternatives(
        subject=note.subject,
        body=render_to_string("notifications/email/body.txt", context),
        to=[client.email],
    )
    message.attach_alternative(
        render_to_string("notifications/email/body.html", context), "text/html"
    )
    try:
        message.send()
    except OSError as exc:  # SMTP down: keep the row, say why
        EmailNotification.objects.filter(pk=note.pk).update(error=str(exc)[:500])
        return note
    EmailNotification.objects.filter(pk=note.pk).update(sent_at=timezone.now())
    return note


def webhook_attempt(delivery: WebhookDelivery, *, resent_by=None) -> DeliveryAttempt:
    """POST the event once, record the attempt, and schedule the next one if it failed."""
    event, endpoint = delivery.event, delivery.endpoint
    body = event_body(event)
    request = urllib.request.Request(  # noqa: S310 - staff-configured http(s) endpoint
        endpoint.url,
        data=body.encode(),
        method="POST",
        headers=headers(endpoint.secret, event.message_id, int(time.time()), body),
    )
    started = time.monotonic()
    status_code, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = str(getattr(exc, "reason", exc))[:500]
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery,
        status_code=status_code,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
        resent_by=resent_by,
    )
    now = timezone.now()
    delivery.attempt_count += 1
    if attempt.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.SUCCEEDED,
            now,
            None,
        )
    elif delivery.attempt_count > len(BACKOFF):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=BACKOFF[delivery.attempt_count - 1])
    delivery.save(update_fields=["status", "attempt_count", "next_attempt_at", "delivered_at"])
    return attempt


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Lock one pending delivery that is due, so two workers never send it twice at once."""
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=True)
        .select_related("event", "endpoint")
        .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
        .first()
    )


def webhook_deliver_due(delivery_id: int) -> DeliveryAttempt | None:
    with transaction.atomic():
        delivery = _claim(delivery_id)
        return None if delivery is None else webhook_attempt(delivery)


def event_dispatch(event_id: int) -> None:
    """Email, then every webhook delivery of the event that is due."""
    event = Event.objects.select_related("account__client").get(pk=event_id)
    email_send(event)
    for delivery_id in event.deliveries.values_list("pk", flat=True):
        webhook_deliver_due(delivery_id)


def deliveries_retry_due(*, limit: int = 500) -> int:
    due = (
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(webhook_deliver_due(pk) is not None for pk in list(due))


def webhook_resend(*, delivery_id: int, resent_by=None) -> DeliveryAttempt:
    """Send a delivery again now, whatever its state (staff action)."""
    require_perm(resent_by, "notifications.change_webhookdelivery", "resend webhooks")
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("event", "endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound(f"Delivery {delivery_id} does not exist.")
        return webhook_attempt(delivery, resent_by=resent_by)


def webhook_clean(*, url: str, events: list[str], secret: str | None = None) -> dict:
    """Validate an endpoint's URL, event list and (optional) `whsec_` secret."""
    if not url or not url.startswith(("http://", "https://")):
        raise InvalidInput("The URL must start with http:// or https://.", field="url")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise InvalidInput("events is a list of event names.", field="events")
    unknown = sorted(set(events) - set(EventType.values))
    if not events or unknown:
        raise InvalidInput(
            f"events is a non-empty list of: {', '.join(EventType.values)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            field="events",
        )
    cleaned = {"url": url, "events": sorted(set(events))}
    if secret:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not secret.startswith("whsec_") or len(key) < 24:
            raise InvalidInput(
                "The secret is 'whsec_' followed by at least 24 random bytes in base64.",
                field="secret",
            )
        cleaned["secret"] = secret
    return cleaned


def webhook_endpoint_create(
    *,
    url: str,
    events: list[str],
    secret: str | None = None,
    description: str = "",
    created_by=None,
) -> WebhookEndpoint:
    require_perm(created_by, "notifications.add_webhookendpoint", "manage webhooks")
    cleaned = webhook_clean(url=url, events=events, secret=secret)
    return WebhookEndpoint.objects.create(
        description=description[:200], created_by=created_by, **cleaned
    )
