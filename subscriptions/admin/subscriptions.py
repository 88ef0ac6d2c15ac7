"""Subscriptions: read-only; suspend, resume and cancel are FSM buttons routed to the
services, which lock the books, re-check the user's permission and log the move."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django_fsm.admin import FSMAdminMixin

from accounts.admin.display import badge, local_minute, money_html
from billing_site.admin_readonly import ReadOnlyInline
from billing_site.exceptions import DomainError

from ..models import (
    PaymentRequest,
    Subscription,
    SubscriptionAddOn,
    SubscriptionStatusChange,
    Upsell,
)
from ..services import subscription_cancel, subscription_resume, subscription_suspend

STATUS_TONES = {
    "pending_approval": "warn",
    "active": "ok",
    "suspended": "bad",
    "cancelled": "muted",
}
UPSELL_TONES = {"pending_payment": "warn", "applied": "ok", "cancelled": "muted"}


class AddOnInline(ReadOnlyInline):
    model = SubscriptionAddOn
    verbose_name_plural = "Add-ons"
    fields = readonly_fields = ("add_on", "price", "billed_from", "added_at", "added_by")


class UpsellInline(ReadOnlyInline):
    model = Upsell
    fk_name = "subscription"
    verbose_name_plural = "Upsells"
    fields = readonly_fields = (
        "created_at",
        "kind",
        "to_plan",
        "add_on",
        "amount",
        "charged",
        "pay_with",
        "status",
        "payment_request",
        "note",
    )


class PaymentRequestInline(ReadOnlyInline):
    model = PaymentRequest
    verbose_name_plural = "Payment requests"
    fields = readonly_fields = (
        "request_link",
        "purpose",
        "gateway",
        "amount",
        "status",
        "created_at",
        "completed_at",
        "outcome",
    )

    @admin.display(description="reference")
    def request_link(self, obj):
        url = reverse("admin:subscriptions_paymentrequest_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.reference)


class StatusChangeInline(ReadOnlyInline):
    model = SubscriptionStatusChange
    verbose_name_plural = "Status history"
    fields = readonly_fields = ("changed_at", "from_status", "to_status", "changed_by", "reason")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


SERVICES = {
    "suspend": lambda obj, user, reason: subscription_suspend(
        subscription_id=obj.pk, reason=reason, suspended_by=user
    ),
    "resume": lambda obj, user, reason: subscription_resume(
        subscription_id=obj.pk, reason=reason, resumed_by=user
    ),
    "cancel": lambda obj, user, reason: subscription_cancel(
        subscription_id=obj.pk, reason=reason, cancelled_by=user
    ),
}


@admin.register(Subscription)
class SubscriptionAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    list_display = (
        "id",
        "client",
        "plan",
        "status_badge",
        "trial",
        "monthly",
        "paid_until",
        "created",
    )
    list_filter = ("status", "plan__charging", "is_trial", "suspension_reason", "plan")
    search_fields = ("account__client__name", "account__client__email", "plan__code")
    list_select_related = ("account__client", "plan")
    show_full_result_count = False
    list_per_page = 50
    inlines = (AddOnInline, UpsellInline, PaymentRequestInline, StatusChangeInline)
    fieldsets = (
        (None, {"fields": ("account_link", "plan", "status_badge", "suspension_reason")}),
        (
            "Period",
            {
                "fields": (
                    "is_trial",
                    "trial_ends_on",
                    "paid_until",
                    "service_ended_on",
                    "monthly",
                    "period_plan",
                    "period_price",
                )
            },
        ),
        (
            "Dates",
            {
                "fields": (
                    "created_at",
                    "activated_at",
                    "suspended_at",
                    "cancelled_at",
                    "ordered_by",
                )
            },
        ),
    )
    readonly_fields = (
        "account_link",
        "plan",
        "status_badge",
        "suspension_reason",
        "is_trial",
        "trial_ends_on",
        "paid_until",
        "service_ended_on",
        "monthly",
        "period_plan",
        "period_price",
        "created_at",
        "activated_at",
        "suspended_at",
        "cancelled_at",
        "ordered_by",
    )

    def has_add_permission(self, request):
        return False  # orders go through `subscription_order` (API, portal)

    def has_delete_permission(self, request, obj=None):
        return False

    # The change form is read-only; "change" stays on so the FSM buttons show.
    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        pass  # nothing here is edited by hand; the buttons act through the services

    def save_related(self, request, form, formsets, change):
        pass

    @admin.display(description="client", ordering="account__client__name")
    def client(self, obj):
        return obj.account.client.name

    @admin.display(description="account")
    def account_link(self, obj):
        url = reverse("admin:accounts_billingaccount_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_TONES.get(obj.status, "muted"))

    @admin.display(description="trial", boolean=True, ordering="is_trial")
    def trial(self, obj):
        return obj.is_trial

    @admin.display(description="plan price", ordering="plan_price")
    def monthly(self, obj):
        return money_html(obj.plan_price, obj.account.currency)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return local_minute(obj.created_at)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        """Route the FSM buttons to the services instead of calling the model directly."""
        kwargs = kwargs or {}
        service = SERVICES.get(transition_name)
        try:
            if service is None:
                raise DomainError(f"'{transition_name}' is not done by hand.")
            service(obj, request.user, kwargs.get("reason", ""))
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            return False
        self.message_user(
            request, f"Subscription #{obj.pk}: {transition_name} done.", messages.SUCCESS
        )
        return True
