"""The books in the admin: read-only lists, plus releasing holds through the service.

Entries are append-only (the database refuses UPDATE and DELETE), so the admin offers no
add, change or delete for them whoever is logged in; money moves only through the
account page's forms, which call `ledger.services`.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin.display import HOLD_TONES, badge, local_minute, money_html
from accounts.models import BillingAccount
from billing_site.admin_paginator import EstimatedCountPaginator
from billing_site.admin_readonly import ReadOnlyModelAdmin
from billing_site.exceptions import DomainError

from .models import Balance, Entry, Reservation, ReservationStatus
from .selectors import figures_from_row
from .services import ledger_release


def _is_whole_month(start, end) -> bool:
    if not start or not end or start.day != 1 or (start.year, start.month) != (end.year, end.month):
        return False
    return (end + timedelta(days=1)).day == 1


class AccountFilter(admin.SimpleListFilter):
    """`?account=<id>` from an account page; the sidebar names it and offers "All"."""

    title = "account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value or not value.isdigit():
            return ()
        account = BillingAccount.objects.select_related("client").filter(pk=value).first()
        return [(value, str(account))] if account else ()

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(account_id=value)
        return queryset


class InvoiceFilter(admin.SimpleListFilter):
    """`?invoice=<id>` from an invoice page: the entries that invoice billed."""

    title = "invoice"
    parameter_name = "invoice"

    def lookups(self, request, model_admin):
        from invoicing.models import Invoice  # invoicing builds on the ledger

        value = self.value()
        if not value or not value.isdigit():
            return ()
        invoice = Invoice.objects.filter(pk=value).first()
        return [(value, invoice.number)] if invoice else ()

    def queryset(self, request, queryset):
        from invoicing.models import Invoice
        from invoicing.selectors import invoice_entries_q

        value = self.value()
        if not value or not value.isdigit():
            return queryset
        invoice = Invoice.objects.filter(pk=value).first()
        if invoice is None:
            return queryset.none()
        return queryset.filter(invoice_entries_q(invoice))


class _ReadOnlyAdmin(ReadOnlyModelAdmin):
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # per-filter counts would scan the whole ledger
    list_per_page = 100

    @admin.display(description="account", ordering="account__client__name")
    def account_link(self, obj):
        url = reverse("admin:accounts_billingaccount_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.client.name)


@admin.register(Entry)
class EntryAdmin(_ReadOnlyAdmin):
    list_display = (
        "when",
        "account_link",
        "kind",
        "signed_amount",
        "description",
        "period",
        "by",
    )
    list_display_links = ("when",)
    list_select_related = ("account__client", "created_by")
    paginator = EstimatedCountPaginator  # the ledger is too big to COUNT(*) per page
    list_filter = (AccountFilter, InvoiceFilter, "kind", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("description", "=idempotency_key", "account__client__name")
    search_help_text = "Search by description, exact idempotency key or client name."
    raw_id_fields = ("account", "reservation")
    fields = (
        "account",
        "kind",
        "signed_amount",
        "description",
        "period_start",
        "period_end",
        "idempotency_key",
        "reservation",
        "created_at",
        "bill_at",
        "billed_on",
        "created_by",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__client", "created_by")

    @admin.display(description="created", ordering="created_at")
    def when(self, obj):
        return local_minute(obj.created_at)

    @admin.display(description="invoice")
    def billed_on(self, obj):
        from invoicing.selectors import entry_invoice  # invoicing builds on the ledger

        if not obj.is_billable and obj.invoice_id is None:
            return "— (money received or refunded settles amount due)"
        invoice = entry_invoice(obj)
        if invoice is None:
            return "not invoiced yet (expecting invoice)"
        url = reverse("admin:invoicing_invoice_change", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, invoice.number)

    @admin.display(description="by", ordering="created_by__username")
    def by(self, obj):
        return obj.created_by or "system"

    @admin.display(description="amount", ordering="amount")
    def signed_amount(self, obj):
        return money_html(obj.amount, obj.account.currency)

    @admin.display(description="service period", ordering="period_start")
    def period(self, obj):
        if not obj.period_start and not obj.period_end:
            return "—"
        if obj.period_start == obj.period_end:
            return f"{obj.period_start:%Y-%m-%d}"
        if _is_whole_month(obj.period_start, obj.period_end):
            return f"{obj.period_start:%Y-%m}"
        start = f"{obj.period_start:%Y-%m-%d}" if obj.period_start else "…"
        end = f"{obj.period_end:%Y-%m-%d}" if obj.period_end else "…"
        return f"{start} – {end}"


@admin.register(Reservation)
class ReservationAdmin(_ReadOnlyAdmin):
    list_display = (
        "id",
        "account_link",
        "held",
        "state",
        "committed",
        "description",
        "timing",
    )
    list_select_related = ("account__client",)
    list_filter = ("status", AccountFilter)
    search_fields = ("description", "=idempotency_key", "account__client__name")
    search_help_text = "Search by description, exact idempotency key or client name."
    date_hierarchy = "created_at"
    actions = ("release_holds",)
    fields = (
        "account",
        "held",
        "state",
        "committed",
        "description",
        "idempotency_key",
        "expires_at",
        "created_at",
        "created_by",
        "settled_at",
        "settled_by",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("account__client", "created_by", "settled_by")
        )

    @admin.display(description="expires / settled", ordering="expires_at")
    def timing(self, obj):
        """A pending hold's deadline matters; a settled hold's settlement time does."""
        if obj.status == ReservationStatus.PENDING:
            return format_html("expires<br>{}", local_minute(obj.expires_at))
        return local_minute(obj.settled_at)

    @admin.display(description="held", ordering="amount")
    def held(self, obj):
        return money_html(obj.amount, obj.account.currency)

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return badge(obj.get_status_display(), HOLD_TONES[obj.status])

    @admin.display(description="committed")
    def committed(self, obj):
        if obj.committed_amount is None:
            return "—"
        return money_html(obj.committed_amount, obj.account.currency)

    def has_release_permission(self, request):
        return request.user.has_perm("ledger.change_reservation")

    @admin.action(description="Release selected holds", permissions=["release"])
    def release_holds(self, request, queryset):
        released, refused = 0, []
        for reservation_id in queryset.values_list("pk", flat=True):
            try:
                booking = ledger_release(reservation_id=reservation_id, settled_by=request.user)
            except DomainError as exc:
                refused.append(exc.detail)
            else:
                released += not booking.replayed
        if released:
            messages.success(request, f"Released {released} hold(s); the money is usable again.")
        for detail in refused:
            messages.error(request, detail)
        if not released and not refused:
            messages.info(request, "Those holds were already released; nothing changed.")


@admin.register(Balance)
class BalanceAdmin(_ReadOnlyAdmin):
    list_display = (
        "account_link",
        "balance_amount",
        "unbilled_amount",
        "amount_due",
        "reserved_amount",
        "entry_count",
        "updated_at",
    )
    list_select_related = ("account__client",)
    search_fields = ("account__client__name", "account__client__email")
    list_filter = ("account__currency", "account__payment_mode")
    ordering = ("account__client__name",)

    @admin.display(description="balance", ordering="balance")
    def balance_amount(self, obj):
        return money_html(obj.balance, obj.account.currency)

    @admin.display(description="expecting invoice", ordering="unbilled")
    def unbilled_amount(self, obj):
        return money_html(obj.unbilled, obj.account.currency)

    @admin.display(description="amount due")
    def amount_due(self, obj):
        return money_html(figures_from_row(obj, obj.account).amount_due, obj.account.currency)

    @admin.display(description="reserved", ordering="reserved")
    def reserved_amount(self, obj):
        return money_html(obj.reserved, obj.account.currency)
