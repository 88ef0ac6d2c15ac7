"""Clients: find them fast, see their account at a glance, create them via the service."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import Client, ClientUser, CreditLimitScope, PaymentMode
from accounts.services import account_create, client_add_user
from billing_site.exceptions import DomainError

from .display import CREDIT_TONES, MODE_SHORT, MODE_TONES, badge, money_html
from .forms import ClientCreateForm, PortalUserForm, show_domain_error
from .views import get_viewable, render_action, require_perm


class PortalUserInline(admin.TabularInline):
    model = ClientUser
    verbose_name = "portal login"
    verbose_name_plural = "Portal logins"
    fields = readonly_fields = ("username", "email", "active", "last_login")
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None):
        return False  # logins are made with "Add portal login" (Django's password rules)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="username")
    def username(self, obj):
        return obj.user.username

    @admin.display(description="email")
    def email(self, obj):
        return obj.user.email or "—"

    @admin.display(description="active", boolean=True)
    def active(self, obj):
        return obj.user.is_active

    @admin.display(description="last login")
    def last_login(self, obj):
        return obj.user.last_login or "never"


def _account(client):
    try:
        return client.account
    except Client.account.RelatedObjectDoesNotExist:
        return None


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "currency", "mode", "credit", "balance", "account_link")
    list_select_related = ("account", "account__balance_row")
    search_fields = ("name", "email")
    search_help_text = "Search by client name or billing email."
    list_filter = ("account__payment_mode", "account__currency")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    fields = ("name", "email", "account_summary", "created_at")
    readonly_fields = ("account_summary", "created_at")
    inlines = (PortalUserInline,)
    change_form_template = "admin/accounts/client/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account", "account__balance_row")

    def has_delete_permission(self, request, obj=None):
        return False  # the account and its books point at the client

    # -- columns ---------------------------------------------------------------------

    @admin.display(description="currency", ordering="account__currency")
    def currency(self, obj):
        account = _account(obj)
        return account.currency if account else "—"

    @admin.display(description="payment mode", ordering="account__payment_mode")
    def mode(self, obj):
        account = _account(obj)
        if account is None:
            return "—"
        return badge(MODE_SHORT[account.payment_mode], MODE_TONES[account.payment_mode])

    @admin.display(description="credit", ordering="account__credit_status")
    def credit(self, obj):
        account = _account(obj)
        if account is None or account.payment_mode != PaymentMode.CREDIT_LIMIT:
            return "—"
        return badge(account.get_credit_status_display(), CREDIT_TONES[account.credit_status])

    @admin.display(description="balance", ordering="account__balance_row__balance")
    def balance(self, obj):
        account = _account(obj)
        if account is None:
            return "—"
        return money_html(account.balance_row.balance, account.currency)

    @admin.display(description="account")
    def account_link(self, obj):
        account = _account(obj)
        if account is None:
            return "—"
        url = reverse("admin:accounts_billingaccount_change", args=[account.pk])
        return format_html('<a href="{}">account&nbsp;→</a>', url)

    @admin.display(description="billing account")
    def account_summary(self, obj):
        account = _account(obj)
        if account is None:
            return "—"
        url = reverse("admin:accounts_billingaccount_change", args=[account.pk])
        return format_html(
            '<a href="{}">{} account</a> · {} · balance {}',
            url,
            account.currency,
            account.get_payment_mode_display(),
            money_html(account.balance_row.balance, account.currency),
        )

    # -- creating clients and logins through the services --------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/add-login/",
                self.admin_site.admin_view(self.add_login_view),
                name="accounts_client_add_login",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """A client is created together with its account by `account_create`."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ClientCreateForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = account_create(
                    name=data["name"],
                    email=data["email"],
                    currency=data["currency"],
                    payment_mode=data["payment_mode"],
                    credit_limit=data["credit_limit"],
                    credit_limit_scope=data["credit_limit_scope"] or CreditLimitScope.TOTAL_DEBT,
                    payment_term_days=data.get("payment_term_days"),
                    created_by=request.user,
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Client {account.client.name} created with a "
                    f"{account.get_payment_mode_display().lower()} {account.currency} account.",
                )
                return HttpResponseRedirect(
                    reverse("admin:accounts_billingaccount_change", args=[account.pk])
                )
        return render_action(
            self,
            request,
            title="Add client",
            form=form,
            submit_label="Create client and account",
            cancel_url=reverse("admin:accounts_client_changelist"),
            intro="Creates the client with its billing account and empty books. Accounts "
            "are prepaid unless you grant another mode here; that grant is recorded in "
            "the account's history.",
            mode_switch=True,
        )

    def add_login_view(self, request, object_id):
        client = get_viewable(self, request, object_id)
        require_perm(request, "accounts.add_clientuser")
        change_url = reverse("admin:accounts_client_change", args=[client.pk])
        form = PortalUserForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = client_add_user(
                    client_id=client.pk,
                    username=data["username"],
                    email=data["email"],
                    password=data["password"],
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(request, f"Portal login {user.username} created for {client}.")
                return HttpResponseRedirect(change_url)
        return render_action(
            self,
            request,
            title=f"Add portal login: {client.name}",
            form=form,
            submit_label="Create login",
            cancel_url=change_url,
            intro="The login sees this client's account only. Django's password rules apply.",
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_add_login": request.user.has_perm("accounts.add_clientuser"),
        }
        return super().change_view(request, object_id, form_url, extra_context)
