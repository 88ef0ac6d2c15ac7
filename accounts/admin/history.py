"""The audit trail across all accounts: mode changes and state changes, read-only."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import AccountStateChange, PaymentModeChange
from billing_site.admin_readonly import ReadOnlyInline

from .display import amount_text, local_minute, money_html


class _AuditAdmin(admin.ModelAdmin):
    """Rows written by the services only; nobody edits or deletes history."""

    list_select_related = ("account__client", "changed_by")
    date_hierarchy = "changed_at"
    search_fields = ("account__client__name", "reason")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="account", ordering="account__client__name")
    def account_link(self, obj):
        url = reverse("admin:accounts_billingaccount_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.client.name)

    @admin.display(description="by")
    def who(self, obj):
        return obj.changed_by or "system"


@admin.register(PaymentModeChange)
class PaymentModeChangeAdmin(_AuditAdmin):
    list_display = ("changed_at", "account_link", "who", "change", "limit", "balance", "reason")
    list_filter = ("to_mode", "from_mode")

    @admin.display(description="from → to")
    def change(self, obj):
        return f"{obj.get_from_mode_display()} → {obj.get_to_mode_display()}"

    @admin.display(description="new limit")
    def limit(self, obj):
        if obj.to_credit_limit is None:
            return "—"
        limit = amount_text(obj.to_credit_limit, obj.account.currency)
        return f"{limit} ({obj.get_to_scope_display()})"

    @admin.display(description="balance at change")
    def balance(self, obj):
        return money_html(obj.balance_at_change, obj.account.currency)


@admin.register(AccountStateChange)
class AccountStateChangeAdmin(_AuditAdmin):
    list_display = ("changed_at", "account_link", "who", "field", "change", "reason")
    list_filter = ("field", "to_state")

    @admin.display(description="from → to")
    def change(self, obj):
        return f"{obj.from_state} → {obj.to_state}"


# -- the same history as read-only inlines on the account page ----------------------


class _ReadOnlyInline(ReadOnlyInline):
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by", "account")

    @admin.display(description="when")
    def when(self, obj):
        return local_minute(obj.changed_at)


class PaymentModeChangeInline(_ReadOnlyInline):
    model = PaymentModeChange
    verbose_name = "payment mode change"
    verbose_name_plural = "Payment mode history (newest first)"
    fields = readonly_fields = ("when", "who", "change", "limits", "balance", "reason")
    ordering = ("-changed_at", "-id")

    @admin.display(description="by")
    def who(self, obj):
        return obj.changed_by or "system"

    @admin.display(description="from → to")
    def change(self, obj):
        return f"{obj.get_from_mode_display()} → {obj.get_to_mode_display()}"

    @admin.display(description="limit and scope")
    def limits(self, obj):
        currency = obj.account.currency

        def side(limit, scope_label):
            return (
                "no limit" if limit is None else f"{amount_text(limit, currency)} ({scope_label})"
            )

        return (
            f"{side(obj.from_credit_limit, obj.get_from_scope_display())} → "
            f"{side(obj.to_credit_limit, obj.get_to_scope_display())}"
        )

    @admin.display(description="balance at change")
    def balance(self, obj):
        return money_html(obj.balance_at_change, obj.account.currency)


class AccountStateChangeInline(_ReadOnlyInline):
    model = AccountStateChange
    verbose_name = "state change"
    verbose_name_plural = "Credit status and postpaid permission history (newest first)"
    fields = readonly_fields = ("when", "who", "field_name", "change", "reason")
    ordering = ("-changed_at", "-id")

    @admin.display(description="by")
    def who(self, obj):
        return obj.changed_by or "system"

    @admin.display(description="what")
    def field_name(self, obj):
        return obj.field.replace("_", " ")

    @admin.display(description="from → to")
    def change(self, obj):
        return f"{obj.from_state.replace('_', ' ')} → {obj.to_state.replace('_', ' ')}"
