"""Payment requests: read-only records. Staff confirm a bank transfer's money, or
withdraw a request, with FSM buttons (or the list action) routed to the services, which
re-check the permission, book the money and fulfil the purpose."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django_fsm.admin import FSMAdminMixin

from accounts.admin.display import badge, local_minute, money_html
from billing_site.exceptions import DomainError

from ..gateways import gateway_choices, gateway_label
from ..models import CONFIRM_PERMISSION, PaymentRequest, PaymentRequestStatus
from ..services import payment_request_cancel, payment_request_confirm

STATUS_TONES = {"pending": "warn", "succeeded": "ok", "cancelled": "muted"}


class GatewayFilter(admin.SimpleListFilter):
    """The gateways enabled here (a disabled one is not offered, even for old rows)."""

    title = "gateway"
    parameter_name = "gateway"

    def lookups(self, request, model_admin):
        return gateway_choices()

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(gateway=self.value())
        return queryset


@admin.register(PaymentRequest)
class PaymentRequestAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    list_display = (
        "reference",
        "client",
        "purpose",
        "gateway_label",
        "amount_display",
        "status_badge",
        "created",
        "completed",
    )
    list_filter = ("status", "purpose", GatewayFilter)
    search_fields = ("reference", "account__client__name")
    list_select_related = ("account__client",)
    show_full_result_count = False
    list_per_page = 50
    actions = ("confirm_money_received",)
    readonly_fields = (
        "reference",
        "account_link",
        "subscription_link",
        "invoice_link",
        "purpose",
        "gateway_label",
        "amount_display",
        "status_badge",
        "instructions",
        "period_start",
        "outcome",
        "payment_entry",
        "created_at",
        "completed_at",
        "confirmed_by",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

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

    @admin.display(description="subscription")
    def subscription_link(self, obj):
        if obj.subscription_id is None:
            return "—"
        url = reverse("admin:subscriptions_subscription_change", args=[obj.subscription_id])
        return format_html('<a href="{}">#{}</a>', url, obj.subscription_id)

    @admin.display(description="invoice")
    def invoice_link(self, obj):
        if obj.invoice_id is None:
            return "—"
        url = reverse("admin:invoicing_invoice_change", args=[obj.invoice_id])
        return format_html('<a href="{}">{}</a>', url, obj.invoice.number)

    @admin.display(description="gateway", ordering="gateway")
    def gateway_label(self, obj):
        return gateway_label(obj.gateway)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money_html(obj.amount, obj.currency)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_TONES.get(obj.status, "muted"))

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return local_minute(obj.created_at)

    @admin.display(description="completed", ordering="completed_at")
    def completed(self, obj):
        return local_minute(obj.completed_at)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm(CONFIRM_PERMISSION):
            actions.pop("confirm_money_received", None)
        return actions

    @admin.action(description="Confirm money received (bank transfer)")
    def confirm_money_received(self, request, queryset):
        pending = queryset.filter(status=PaymentRequestStatus.PENDING).values_list("pk", flat=True)
        done = 0
        for request_id in list(pending):
            try:
                settled = payment_request_confirm(request_id=request_id, confirmed_by=request.user)
            except DomainError as exc:
                self.message_user(request, exc.detail, level=messages.ERROR)
                continue
            done += 1
            self.message_user(
                request, f"{settled.reference}: money booked. {settled.outcome}", messages.SUCCESS
            )
        if not done:
            self.message_user(request, "No pending request was confirmed.", messages.WARNING)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        """Route the FSM buttons to the services instead of calling the model directly."""
        kwargs = kwargs or {}
        try:
            if transition_name == "confirm":
                settled = payment_request_confirm(request_id=obj.pk, confirmed_by=request.user)
                done = f"{settled.reference}: money booked. {settled.outcome}"
            elif transition_name == "cancel":
                withdrawn = payment_request_cancel(
                    request_id=obj.pk, reason=kwargs.get("reason", ""), cancelled_by=request.user
                )
                done = f"{withdrawn.reference} cancelled."
            else:
                raise DomainError(f"'{transition_name}' is not done by hand.")
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            return False
        self.message_user(request, done, messages.SUCCESS)
        return True
