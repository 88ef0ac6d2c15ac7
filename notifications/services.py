"""Record events in the outbox and deliver them by email and signed webhooks.

`event_record` runs inside the transaction of the change it reports and writes, with the
event, one delivery row per message: the e-mail to the client's billing address and one
per subscribed webhook endpoint. A rolled-back change therefore notifies nobody, and a
committed one is never forgotten: the dispatch queued after commit only sends sooner
what beat's sweepers (`emails_retry_due`, `deliveries_retry_due`, every minute) would
send anyway. Every attempt is kept; a failed one is retried after `BACKOFF`, then given
up; staff can resend any delivery from the admin.

Each delivery is sent on its own, under a row lock taken with SKIP LOCKED, so a worker
and a sweeper never send one message twice, and no failure of one message (an SMTP
outage, a broken endpoint) holds up another.
"""

import base64
import binascii
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import BillingAccount
from billing_site.after_commit import queue_after_commit
from billing_site.bulk import insert_rows
from billing_site.exceptions import InvalidInput, NotFound, require_perm

from .models import (
    DeliveryAttempt,
    DeliveryStatus,
    EmailAttempt,
    EmailNotification,
    Event,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    new_message_id,
)
from .signing import headers

logger = logging.getLogger(__name__)

# Seconds to wait after the 1st, 2nd, … failed attempt; after the last, give up.
BACKOFF = [30, 120, 600, 3600, 6 * 3600, 24 * 3600]
TIMEOUT_SECONDS = 10


def _endpoints_for(event_type: str) -> list[WebhookEndpoint]:
    return [e for e in WebhookEndpoint.objects.filter(is_active=True) if event_type in e.events]


def _queue_dispatch(event_ids: list[int]) -> None:
    """After commit, one task per channel, so a slow mail server never delays a webhook."""
    from .tasks import deliver_event_webhooks, send_event_emails  # tasks import the services

    for task in (send_event_emails, deliver_event_webhooks):
        queue_after_commit(
            task, event_ids, recovery="beat's delivery sweepers send them within a minute"
        )


def _billing_addresses(account_ids) -> dict[int, str]:
    return dict(
        BillingAccount.objects.filter(pk__in=set(account_ids))
        .exclude(client__email="")
        .values_list("pk", "client__email")
    )


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
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
        for endpoint in _endpoints_for(type)
    )
    address = _billing_addresses([account_id]).get(account_id) if account_id else None
    if address:
        EmailNotification.objects.create(event=event, to=address, next_attempt_at=now)
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
    addresses = _billing_addresses(account_id for _, account_id in items if account_id)
    insert_rows(
        EmailNotification,
        ["event_id", "to", "next_attempt_at"],
        [
            (event_id, addresses[account_id], now)
            for event_id, (_, account_id) in zip(ids, items, strict=True)
            if account_id in addresses
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


def _after_failure(delivery, now, **error) -> None:
    """Schedule the next attempt after a failed one, or give up after the last backoff."""
    if delivery.attempt_count >= len(BACKOFF):
        delivery.give_up(**error)
    else:
        delivery.retry_at(now + timedelta(seconds=BACKOFF[delivery.attempt_count]), **error)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _isolated(deliver, delivery_id: int, kind: str):
    """One delivery, whatever happens to it: a failure the attempt did not record (the
    database, a bug) is logged and left to the sweeper, never raised to the next one."""
    try:
        return deliver(delivery_id)
    except Exception:  # never let one message stop the others
        logger.warning(
            "%s %s was not attempted; the sweeper retries it", kind, delivery_id, exc_info=True
        )
        return None


# -- e-mail ---------------------------------------------------------------------------


def _email_message(email: EmailNotification) -> EmailMultiAlternatives:
    event = email.event
    client = event.account.client
    context = {"event": event, "data": event.data, "client": client, "type": event.type}
    email.subject = render_to_string("notifications/email/subject.txt", context).strip()[:300]
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=render_to_string("notifications/email/body.txt", context),
        to=[email.to],
    )
    message.attach_alternative(
        render_to_string("notifications/email/body.html", context), "text/html"
    )
    return message


def email_attempt(email: EmailNotification, *, resent_by=None) -> EmailAttempt:
    """Send the e-mail once (text and HTML), record the attempt, and schedule the next one
    if it failed. The caller holds the row's lock."""
    started = time.monotonic()
    error = ""
    try:
        _email_message(email).send()
    except Exception as exc:  # noqa: BLE001 - any failure is this attempt's: kept, retried
        error = _error_text(exc)
    attempt = EmailAttempt.objects.create(
        email=email,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
        resent_by=resent_by,
    )
    now = timezone.now()
    if error:
        _after_failure(email, now, error=error)
    else:
        email.succeed(when=now)
    email.save(
        update_fields=[
            "subject",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_error",
            "sent_at",
        ]
    )
    return attempt


def email_deliver_due(email_id: int) -> EmailAttempt | None:
    """Send one pending e-mail that is due, unless another worker holds it or sent it."""
    with transaction.atomic():
        email = (
            EmailNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event__account__client")
            .filter(pk=email_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        return None if email is None else email_attempt(email)


def emails_retry_due(*, limit: int = 500) -> int:
    """Beat's sweeper: every pending e-mail whose time has come (new ones whose dispatch
    was lost, failed ones whose backoff is over); returns how many were attempted."""
    due = (
        EmailNotification.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(_isolated(email_deliver_due, pk, "E-mail") is not None for pk in list(due))


def email_resend(*, email_id: int, resent_by=None) -> EmailAttempt:
    """Send an e-mail again now, whatever its state (staff action)."""
    require_perm(resent_by, "notifications.change_emailnotification", "resend e-mails")
    with transaction.atomic():
        email = (
            EmailNotification.objects.select_for_update(of=("self",))
            .select_related("event__account__client")
            .filter(pk=email_id)
            .first()
        )
        if email is None:
            raise NotFound(f"E-mail {email_id} does not exist.")
        return email_attempt(email, resent_by=resent_by)


# -- webhooks -------------------------------------------------------------------------


def webhook_attempt(delivery: WebhookDelivery, *, resent_by=None) -> DeliveryAttempt:
    """POST the event once, record the attempt, and schedule the next one if it failed."""
    event, endpoint = delivery.event, delivery.endpoint
    body = event_body(event)
    started = time.monotonic()
    status_code, error = None, ""
    try:
        request = urllib.request.Request(  # noqa: S310 - staff-configured http(s) endpoint
            endpoint.url,
            data=body.encode(),
            method="POST",
            headers=headers(endpoint.secret, event.message_id, int(time.time()), body),
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = str(getattr(exc, "reason", exc))[:500]
    except Exception as exc:  # noqa: BLE001 - a URL urllib refuses: this attempt's error
        error = _error_text(exc)
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery,
        status_code=status_code,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
        resent_by=resent_by,
    )
    now = timezone.now()
    if attempt.ok:
        delivery.succeed(when=now)
    else:
        _after_failure(delivery, now)
    delivery.save(update_fields=["status", "attempt_count", "next_attempt_at", "delivered_at"])
    return attempt


def webhook_deliver_due(delivery_id: int) -> DeliveryAttempt | None:
    """POST one pending delivery that is due, unless another worker holds it or sent it."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "endpoint")
            .filter(
                pk=delivery_id,
                status=DeliveryStatus.PENDING,
                next_attempt_at__lte=timezone.now(),
            )
            .first()
        )
        return None if delivery is None else webhook_attempt(delivery)


def deliveries_retry_due(*, limit: int = 500) -> int:
    """Beat's sweeper for webhooks, as `emails_retry_due` is for e-mail."""
    due = (
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(
        _isolated(webhook_deliver_due, pk, "Webhook delivery") is not None for pk in list(due)
    )


def webhook_resend(*, delivery_id: int, resent_by=None) -> DeliveryAttempt:
    """Send a delivery again now, whatever its state (staff action)."""
    require_perm(resent_by, "notifications.change_webhookdelivery", "resend webhooks")
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("event", "endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound(f"Delivery {delivery_id} does not exist.")
        return webhook_attempt(delivery, resent_by=resent_by)


# -- dispatch after commit ------------------------------------------------------------


def events_send_emails(event_ids: list[int]) -> int:
    """The e-mails of freshly recorded events, each on its own; returns how many were
    attempted (none that a sweeper already holds or sent)."""
    ids = EmailNotification.objects.filter(event_id__in=event_ids).values_list("pk", flat=True)
    return sum(_isolated(email_deliver_due, pk, "E-mail") is not None for pk in list(ids))


def events_deliver_webhooks(event_ids: list[int]) -> int:
    """The webhooks of freshly recorded events, each on its own."""
    ids = WebhookDelivery.objects.filter(event_id__in=event_ids).values_list("pk", flat=True)
    return sum(
        _isolated(webhook_deliver_due, pk, "Webhook delivery") is not None for pk in list(ids)
    )


def event_dispatch(event_id: int) -> None:
    """Every due delivery of one event (webhooks first: they do not wait for SMTP)."""
    events_deliver_webhooks([event_id])
    events_send_emails([event_id])


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
