"""Billing accounts: the list, and the account page with its figures and history."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import BillingAccount, CreditStatus, PaymentMode, PostpaidPermission
from accounts.services import MAX_PAYMENT_TERM_DAYS
from ledger.models import Entry, ReservationStatus
from ledger.selectors import account_figures, usable_amount

from .account_actions import AccountActionsMixin
from .display import (
    CREDIT_TONES,
    MODE_SHORT,
    MODE_TONES,
    PERMISSION_TONES,
    amount_text,
    badge,
    figure_cards,
    mode_summary,
    money_html,
)
from .forms import ChargeForm, PaymentForm
from .history import AccountStateChangeInline, PaymentModeChangeInline

RECENT_ENTRIES = 10


def _row_usable(account):
    row = account.balance_row
    return usable_amount(account, balance=row.balance, unbilled=row.unbilled, reserved=row.reserved)


@admin.register(BillingAccount)
class BillingAccountAdmin(AccountActionsMixin, admin.ModelAdmin):
    list_display = (
        "client_name",
        "currency",
        "mode",
        "credit",
        "permission",
        "balance",
        "usable",
    )
    list_display_links = ("client_name",)
    list_filter = ("payment_mode", "credit_status", "currency", "credit_limit_scope")
    list_select_related = ("client", "balance_row")
    search_fields = ("client__name", "client__email")
    search_help_text = "Search by client name or billing email."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    inlines = (PaymentModeChangeInline, AccountStateChangeInline)
    fieldsets = (
        (None, {"fields": ("client_link", "currency", "created_at")}),
        (
            "Payment mode",
            {
                "fields": (
                    "payment_mode",
                    "credit_limit_text",
                    "credit_limit_scope",
                    "credit_status",
                    "postpaid_permission",
                ),
                "description": "These change only through “Convert payment mode” and the "
                "credit buttons above, so every change is recorded with who and why.",
            },
        ),
        ("Terms", {"fields": ("payment_term_days",)}),
    )
    readonly_fields = (
        "client_link",
        "currency",
        "created_at",
        "payment_mode",
        "credit_limit_text",
        "credit_limit_scope",
        "credit_status",
        "postpaid_permission",
    )
    change_form_template = "admin/accounts/billingaccount/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client", "balance_row")

    # Accounts are born with their client (`account_create`) and never deleted: the
    # books point at them.
    def has_add_permission(self, request):
        return request.user.has_perm("accounts.add_client")

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:accounts_client_add"))

    # -- columns ---------------------------------------------------------------------

    @admin.display(description="client", ordering="client__name")
    def client_name(self, obj):
        return obj.client.name

    @admin.display(description="payment mode", ordering="payment_mode")
    def mode(self, obj):
        label = MODE_SHORT[obj.payment_mode]
        if obj.payment_mode == PaymentMode.CREDIT_LIMIT:
            label = f"Credit {amount_text(obj.credit_limit, obj.currency)}"
        return badge(label, MODE_TONES[obj.payment_mode])

    @admin.display(description="credit", ordering="credit_status")
    def credit(self, obj):
        if obj.payment_mode != PaymentMode.CREDIT_LIMIT:
            return "—"
        return badge(obj.get_credit_status_display(), CREDIT_TONES[obj.credit_status])

    @admin.display(description="postpaid perm.", ordering="postpaid_permission")
    def permission(self, obj):
        if obj.postpaid_permission == PostpaidPermission.NOT_REQUESTED:
            return format_html('<span class="quiet">{}</span>', "not requested")
        return badge(
            obj.get_postpaid_permission_display(), PERMISSION_TONES[obj.postpaid_permission]
        )

    @admin.display(description="balance", ordering="balance_row__balance")
    def balance(self, obj):
        return money_html(obj.balance_row.balance, obj.currency)

    @admin.display(description="usable")
    def usable(self, obj):
        return money_html(_row_usable(obj), obj.currency)

    # -- change page -----------------------------------------------------------------

    @admin.display(description="client")
    def client_link(self, obj):
        url = reverse("admin:accounts_client_change", args=[obj.client_id])
        return format_html('<a href="{}">{}</a> &lt;{}&gt;', url, obj.client.name, obj.client.email)

    @admin.display(description="credit limit")
    def credit_limit_text(self, obj):
        if obj.credit_limit is None:
            return "—"
        return money_html(obj.credit_limit, obj.currency)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "payment_term_days":
            kwargs["max_value"] = MAX_PAYMENT_TERM_DAYS
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Write only what this form edits: a full save would write back the mode and
        # credit status read at the start of the request over a conversion made since.
        fields = [name for name in form.changed_data if name in form.base_fields]
        if fields:
            obj.save(update_fields=fields)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_permission(request, obj):
            extra_context = {
                **(extra_context or {}),
                **self._page_context(request, obj),
                "show_save_and_add_another": False,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_context(self, request, account):
        user = request.user
        can_charge = user.has_perm("ledger.post_charge")
        can_pay = user.has_perm("ledger.receive_payment")
        is_credit = account.payment_mode == PaymentMode.CREDIT_LIMIT
        can_change = user.has_perm("accounts.change_billingaccount")
        holds_url = self._filtered_url("ledger_reservation", account) + "&status__exact=pending"
        pending_holds = account.reservations.filter(status=ReservationStatus.PENDING).count()
        entries = Entry.objects.filter(account=account).select_related("created_by")
        return {
            "account": account,
            "figures": figure_cards(
                account_figures(account.pk), pending_holds=pending_holds, holds_url=holds_url
            ),
            "mode_summary": mode_summary(account),
            "can_convert": user.has_perm("accounts.convert_payment_mode"),
            "can_block": can_change and is_credit and account.credit_status == CreditStatus.ACTIVE,
            "can_unblock": can_change and account.credit_status == CreditStatus.BLOCKED,
            "charge_form": ChargeForm(auto_id="charge_%s") if can_charge else None,
            "payment_form": PaymentForm(auto_id="payment_%s") if can_pay else None,
            "recent_entries": [
                {
                    "entry": entry,
                    "amount": money_html(entry.amount, account.currency),
                }
                for entry in entries[:RECENT_ENTRIES]
            ],
            "entries_url": self._filtered_url("ledger_entry", account),
            "holds_url": self._filtered_url("ledger_reservation", account),
        }

    @staticmethod
    def _filtered_url(changelist, account):
        return reverse(f"admin:{changelist}_changelist") + f"?account={account.pk}"
