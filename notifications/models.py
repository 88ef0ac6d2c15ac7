"""The outbox of business events, and their delivery by email and signed webhooks.

An event row is written in the same transaction as the change it reports, so an event
exists exactly when the change committed; delivery happens after commit, in Celery,
with every attempt kept. Each e-mail and each webhook is a delivery row written with
the event, so a lost task or a failed send is retried by beat's sweepers.
"""

import base64
import secrets
import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition


class EventType(models.TextChoices):
    INVOICE_APPROVED = "invoice.approved", "Invoice approved"
    PAYMENT_DUE_SOON = "payment.due_soon", "Payment due date coming"
    INVOICE_OVERDUE = "invoice.overdue", "Invoice overdue"
    INVOICE_PAID = "invoice.paid", "Invoice paid"
    CREDIT_BLOCKED = "credit.blocked", "Credit blocked"
    CREDIT_UNBLOCKED = "credit.unblocked", "Credit unblocked"
    MANUAL_OPERATION_DECIDED = "manual_operation.decided", "Manual operation decided"
    CALENDAR_MISSED = "calendar.missed", "Billing calendar day missed"


def new_message_id() -> str:
    """A unique webhook-id that sorts by time, like a ULID: 48 bits of milliseconds, then
    80 random bits, in base32hex (an alphabet in ASCII order). New ids land at the end of
    the unique index instead of all over it, which keeps the monthly run's bulk of events
    cheap to insert."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "msg_" + base64.b32hexencode(value.to_bytes(16, "big")).decode()[:26]


class Event(models.Model):
    message_id = models.CharField(max_length=40, unique=True, default=new_message_id)
    type = models.CharField(max_length=40, choices=EventType.choices, db_index=True)
    data = models.JSONField(help_text="The object as the API shows it.")
    account = models.ForeignKey(
        "accounts.BillingAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    dedupe_key = models.CharField(
        max_length=200,
        unique=True,
        null=True,
        blank=True,
        help_text="Events that must happen once (a reminder per invoice) carry a key.",
    )
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self):
        return f"{self.type} {self.message_id}"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=new_webhook_secret)
    events = models.JSONField(default=list, help_text="Event types sent to this endpoint.")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["url", "id"]

    def __str__(self):
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


def _delivery_constraints(prefix: str) -> list:
    """What every delivery row keeps true: a known status, and a pending row always has
    the time of its next attempt (the sweepers find it by that time)."""
    return [
        models.CheckConstraint(
            name=f"{prefix}_status_valid", condition=Q(status__in=DeliveryStatus.values)
        ),
        models.CheckConstraint(
            name=f"{prefix}_pending_has_next_attempt",
            condition=~Q(status=DeliveryStatus.PENDING) | Q(next_attempt_at__isnull=False),
        ),
    ]


class WebhookDelivery(models.Model):
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    status = FSMField(
        max_length=20,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        protected=True,
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="one_delivery_per_endpoint"),
            *_delivery_constraints("webhook_delivery"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending_due",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self):
        return f"{self.event.type} → {self.endpoint.url}"

    # Attempts move the state; a resend may start from any state.
    @transition(field=status, source="*", target=DeliveryStatus.SUCCEEDED)
    def succeed(self, *, when):
        self.attempt_count += 1
        self.delivered_at, self.next_attempt_at = when, None

    @transition(field=status, source="*", target=DeliveryStatus.PENDING)
    def retry_at(self, when):
        self.attempt_count += 1
        self.next_attempt_at = when

    @transition(field=status, source="*", target=DeliveryStatus.FAILED)
    def give_up(self):
        self.attempt_count += 1
        self.next_attempt_at = None


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self):
        return f"{self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class EmailNotification(models.Model):
    """The e-mail of one event to the client's billing address: a delivery like a
    webhook's, written with the event, sent by a worker, retried by beat."""

    event = models.OneToOneField(Event, on_delete=models.PROTECT, related_name="email")
    to = models.EmailField(help_text="The client's billing address when the event happened.")
    subject = models.CharField(max_length=300, blank=True)
    status = FSMField(
        max_length=20,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        protected=True,
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "email delivery"
        verbose_name_plural = "email deliveries"
        constraints = _delivery_constraints("email")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="email_pending_due",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self):
        return f"{self.subject or self.event.type} → {self.to}"

    @transition(field=status, source="*", target=DeliveryStatus.SUCCEEDED)
    def succeed(self, *, when):
        self.attempt_count += 1
        self.sent_at, self.next_attempt_at, self.last_error = when, None, ""

    @transition(field=status, source="*", target=DeliveryStatus.PENDING)
    def retry_at(self, when, *, error: str):
        self.attempt_count += 1
        self.next_attempt_at, self.last_error = when, error

    @transition(field=status, source="*", target=DeliveryStatus.FAILED)
    def give_up(self, *, error: str):
        self.attempt_count += 1
        self.next_attempt_at, self.last_error = None, error


class EmailAttempt(models.Model):
    email = models.ForeignKey(EmailNotification, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(auto_now_add=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self):
        return self.error or "sent"

    @property
    def ok(self) -> bool:
        return not self.error
