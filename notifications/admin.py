"""The outbox in the admin: events, webhook endpoints, e-mail and webhook deliveries with
every attempt, and a resend action for each kind of delivery."""

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from accounts.admin.display import badge
from billing_site.admin_readonly import ReadOnlyInline, ReadOnlyModelAdmin
from billing_site.exceptions import DomainError

from .models import (
    DeliveryAttempt,
    EmailAttempt,
    EmailNotification,
    Event,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)
from .services import email_resend, webhook_clean, webhook_resend

DELIVERY_TONES = {"pending": "warn", "succeeded": "ok", "failed": "bad"}


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = readonly_fields = ("endpoint", "status", "attempt_count", "delivered_at")


@admin.register(Event)
class EventAdmin(ReadOnlyModelAdmin):
    list_display = ("occurred_at", "type", "account", "message_id", "email_state")
    list_filter = ("type",)
    date_hierarchy = "occurred_at"
    search_fields = ("message_id", "account__client__name", "dedupe_key")
    list_select_related = ("account__client", "email")
    raw_id_fields = ("account",)
    show_full_result_count = False
    readonly_fields = ("message_id", "type", "account", "occurred_at", "dedupe_key", "payload")
    exclude = ("data",)
    inlines = (DeliveryInline,)

    @admin.display(description="data")
    def payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))

    @admin.display(description="email")
    def email_state(self, obj):
        note = getattr(obj, "email", None)
        if note is None:
            return "—"
        return badge(note.get_status_display(), DELIVERY_TONES.get(note.status, "muted"))


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "events", "is_active")

    def clean(self):
        data = super().clean()
        try:
            webhook_clean(url=data.get("url", ""), events=list(data.get("events") or []))
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.detail)
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "event_list", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("secret", "created_at", "created_by")
    fields = ("url", "description", "events", "is_active", "secret", "created_at", "created_by")

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class AttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = readonly_fields = ("attempted_at", "status_code", "error", "duration_ms", "resent_by")


class DeliveryAdmin(ReadOnlyModelAdmin):
    """What e-mail and webhook deliveries show alike: the event, a status badge, and
    resending for those who may change deliveries."""

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), DELIVERY_TONES.get(obj.status, "muted"))

    def has_resend_permission(self, request):
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(DeliveryAdmin):
    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "status_badge",
        "attempt_count",
        "next_attempt_at",
    )
    list_filter = ("status", "event__type")
    search_fields = ("event__message_id", "endpoint__url")
    list_select_related = ("event", "endpoint")
    show_full_result_count = False
    readonly_fields = (
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    inlines = (AttemptInline,)
    actions = ("resend",)

    @admin.action(description="Resend the selected deliveries now", permissions=["resend"])
    def resend(self, request, queryset):
        _resend(
            self,
            request,
            queryset,
            lambda pk: webhook_resend(delivery_id=pk, resent_by=request.user),
        )


def _resend(model_admin, request, queryset, resend_one) -> None:
    """Resend each selected delivery through its service and say how it went."""
    ok = failed = 0
    for pk in queryset.values_list("pk", flat=True):
        try:
            attempt = resend_one(pk)
        except DomainError as exc:
            model_admin.message_user(request, exc.detail, messages.ERROR)
            return
        ok, failed = (ok + 1, failed) if attempt.ok else (ok, failed + 1)
    level = messages.SUCCESS if not failed else messages.WARNING
    verb = "sent" if queryset.model is EmailNotification else "delivered"
    model_admin.message_user(request, f"Resent: {ok} {verb}, {failed} failed again.", level)


class EmailAttemptInline(ReadOnlyInline):
    model = EmailAttempt
    fields = readonly_fields = ("attempted_at", "error", "duration_ms", "resent_by")


@admin.register(EmailNotification)
class EmailNotificationAdmin(DeliveryAdmin):
    list_display = (
        "created_at",
        "event_type",
        "to",
        "status_badge",
        "attempt_count",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "event__type")
    search_fields = ("to", "subject", "event__message_id")
    list_select_related = ("event",)
    show_full_result_count = False
    readonly_fields = (
        "event",
        "to",
        "subject",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_error",
        "sent_at",
        "created_at",
    )
    inlines = (EmailAttemptInline,)
    actions = ("resend",)

    @admin.action(description="Resend the selected e-mails now", permissions=["resend"])
    def resend(self, request, queryset):
        _resend(
            self, request, queryset, lambda pk: email_resend(email_id=pk, resent_by=request.user)
        )
