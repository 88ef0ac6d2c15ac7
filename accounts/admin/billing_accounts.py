"""Billing accounts: the figures, the mode, and the buttons that call the services."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import (
    AccountStateChange,
    BillingAccount,
    CreditStatus,
    PaymentMode,
    PaymentModeChange,
    PostpaidPermission,
)
from accounts.services import (
    MAX_PAYMENT_TERM_DAYS,
    account_block_credit,
    account_convert_mode,
    account_unblock_credit,
)
from billing_site.exceptions import DomainError, IdempotencyConflict
from ledger.models import Entry, ReservationStatus
from ledger.selectors import account_figures, usable_amount
from ledger.services import ledger_charge, ledger_receive_payment

from .display import (
    CREDIT_TONES,
    MODE_SHORT,
    MODE_TONES,
    PERMISSION_TONES,
    amount_text,
    badge,
    figure_cards,
    money_html,
)
from .forms import (
    ChargeForm,
    ConvertModeForm,
    PaymentForm,
    ReasonForm,
    new_key,
    show_domain_error,
)
from .views import get_viewable, render_action, require_perm

RECENT_ENTRIES = 10


# -- read-only history on the account page ------------------------------------------


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by", "account")


class PaymentModeChangeInline(_ReadOnlyInline):
    model = PaymentModeChange
    verbose_name = "payment mode change"
    verbose_name_plural = "Payment mode history (newest first)"
    fields = readonly_fields = ("changed_at", "who", "change", "limits", "balance", "reason")
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
    fields = readonly_fields = ("changed_at", "who", "field_name", "change", "reason")
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


# -- the account admin ----------------------------------------------------------------


def _row_usable(account):
    row = account.balance_row
    return usable_amount(account, balance=row.balance, unbilled=row.unbilled, reserved=row.reserved)


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
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
            "mode_summary": self._mode_summary(account),
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

    @staticmethod
    def _mode_summary(account):
        """One line saying how this account may spend, for the top of its page."""
        mode = badge(account.get_payment_mode_display(), MODE_TONES[account.payment_mode])
        if account.payment_mode == PaymentMode.PREPAID:
            return format_html("{} · spends only money it has", mode)
        if account.payment_mode == PaymentMode.POSTPAID:
            return format_html(
                "{} · the balance may go below zero without limit; nothing blocks it automatically",
                mode,
            )
        return format_html(
            "{} of {} on the {} · credit {} · invoices due after {} days",
            mode,
            money_html(account.credit_limit, account.currency),
            account.get_credit_limit_scope_display().lower(),
            badge(account.get_credit_status_display(), CREDIT_TONES[account.credit_status]),
            account.payment_term_days,
        )

    # -- service-backed pages ----------------------------------------------------------

    def get_urls(self):
        def view(fn):
            return self.admin_site.admin_view(fn)

        return [
            path("<path:object_id>/convert/", view(self.convert_view), name="accounts_convert"),
            path(
                "<path:object_id>/block-credit/",
                view(self.block_credit_view),
                name="accounts_block_credit",
            ),
            path(
                "<path:object_id>/unblock-credit/",
                view(self.unblock_credit_view),
                name="accounts_unblock_credit",
            ),
            path("<path:object_id>/charge/", view(self.charge_view), name="accounts_charge"),
            path("<path:object_id>/payment/", view(self.payment_view), name="accounts_payment"),
            *super().get_urls(),
        ]

    def _account_url(self, account):
        return reverse("admin:accounts_billingaccount_change", args=[account.pk])

    def convert_view(self, request, object_id):
        account = get_viewable(self, request, object_id)
        require_perm(request, "accounts.convert_payment_mode")
        if request.method == "POST":
            form = ConvertModeForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    converted = account_convert_mode(
                        account_id=account.pk,
                        payment_mode=data["payment_mode"],
                        credit_limit=data["credit_limit"],
                        credit_limit_scope=data["credit_limit_scope"] or None,
                        reason=data["reason"],
                        changed_by=request.user,
                    )
                except DomainError as exc:
                    show_domain_error(form, exc)
                else:
                    self._report_conversion(request, account, converted)
                    return HttpResponseRedirect(self._account_url(account))
        else:
            form = ConvertModeForm(
                initial={
                    "payment_mode": account.payment_mode,
                    "credit_limit": account.credit_limit
                    and amount_text(account.credit_limit, account.currency).replace(",", ""),
                    "credit_limit_scope": account.credit_limit_scope,
                }
            )
        return render_action(
            self,
            request,
            title=f"Convert payment mode: {account.client.name}",
            form=form,
            submit_label="Convert",
            cancel_url=self._account_url(account),
            account=account,
            figures=figure_cards(account_figures(account.pk)),
            mode_summary=self._mode_summary(account),
            intro="The new mode applies at once. Converting to prepaid drops the credit "
            "limit; a negative balance stays as debt and the account cannot spend until "
            "it is topped up.",
            mode_switch=True,
        )

    def _report_conversion(self, request, before, after):
        if (before.payment_mode, before.credit_limit, before.credit_limit_scope) == (
            after.payment_mode,
            after.credit_limit,
            after.credit_limit_scope,
        ):
            messages.info(request, "The account already had that mode; nothing changed.")
            return
        messages.success(
            request,
            f"{after.client.name} is now {after.get_payment_mode_display().lower()}"
            + (
                f" with a credit limit of {amount_text(after.credit_limit, after.currency)} "
                f"{after.currency}"
                if after.credit_limit is not None
                else ""
            )
            + ". The change is in the account's history.",
        )

    def block_credit_view(self, request, object_id):
        return self._credit_view(request, object_id, block=True)

    def unblock_credit_view(self, request, object_id):
        return self._credit_view(request, object_id, block=False)

    def _credit_view(self, request, object_id, *, block):
        account = get_viewable(self, request, object_id)
        require_perm(request, "accounts.change_billingaccount")
        service = account_block_credit if block else account_unblock_credit
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                service(
                    account_id=account.pk,
                    reason=form.cleaned_data["reason"],
                    changed_by=request.user,
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Credit of {account.client.name} "
                    + ("blocked: it can spend only its own funds now." if block else "unblocked."),
                )
                return HttpResponseRedirect(self._account_url(account))
        verb = "Block" if block else "Unblock"
        return render_action(
            self,
            request,
            title=f"{verb} credit: {account.client.name}",
            form=form,
            submit_label=f"{verb} credit",
            danger=block,
            cancel_url=self._account_url(account),
            account=account,
            figures=figure_cards(account_figures(account.pk)),
            mode_summary=self._mode_summary(account),
            intro=(
                "While blocked, the account can spend only its own positive balance; "
                "services already paid for keep running to the end of their period."
                if block
                else "The account can use its credit limit again."
            ),
        )

    def charge_view(self, request, object_id):
        return self._booking_view(request, object_id, charge=True)

    def payment_view(self, request, object_id):
        return self._booking_view(request, object_id, charge=False)

    def _booking_view(self, request, object_id, *, charge):
        account = get_viewable(self, request, object_id)
        require_perm(request, "ledger.post_charge" if charge else "ledger.receive_payment")
        form_class = ChargeForm if charge else PaymentForm
        form = form_class(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if charge:
                    booking = ledger_charge(
                        account_id=account.pk,
                        amount=data["amount"],
                        kind=data["kind"],
                        description=data["description"],
                        idempotency_key=data["idempotency_key"],
                        created_by=request.user,
                    )
                else:
                    booking = ledger_receive_payment(
                        account_id=account.pk,
                        amount=data["amount"],
                        reference=data["reference"],
                        idempotency_key=data["idempotency_key"],
                        created_by=request.user,
                    )
            except IdempotencyConflict as exc:
                # The page was submitted before with other figures: say so, and give the
                # form a fresh key so a deliberate second booking can go through.
                form = form_class({**request.POST.dict(), "idempotency_key": new_key(form)})
                form.is_valid()
                show_domain_error(form, exc)
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                self._report_booking(request, account, booking, charge=charge)
                return HttpResponseRedirect(self._account_url(account))
        return render_action(
            self,
            request,
            title=f"{'Post a charge to' if charge else 'Record a payment from'} "
            f"{account.client.name}",
            form=form,
            submit_label="Post charge" if charge else "Record payment",
            cancel_url=self._account_url(account),
            account=account,
            figures=figure_cards(account_figures(account.pk)),
            mode_summary=self._mode_summary(account),
        )

    def _report_booking(self, request, account, booking, *, charge):
        amount = amount_text(abs(booking.entry.amount), account.currency)
        what = "Charge" if charge else "Payment"
        if booking.replayed:
            messages.warning(
                request,
                f"This form was already submitted: the {what.lower()} of {amount} "
                f"{account.currency} was booked once (entry #{booking.entry.pk}); "
                "nothing was booked again.",
            )
            return
        usable = booking.figures.usable
        messages.success(
            request,
            f"{what} of {amount} {account.currency} booked (entry #{booking.entry.pk}). "
            f"Balance now {amount_text(booking.figures.balance, account.currency)}, usable "
            f"{amount_text(usable, account.currency)}.",
        )
