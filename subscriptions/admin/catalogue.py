"""Plans and add-ons: editable; subscriptions snapshot prices per period, so a price
change applies from the next period, and a plan in use is retired, never deleted."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.utils.html import format_html

from accounts.admin.display import amount_text, badge, money_html
from billing_site.exceptions import InvalidInput

from ..models import AddOn, Plan, Subscription, SubscriptionStatus
from ..services.catalogue import (
    check_add_ons_currency,
    clean_currency,
    clean_plan_currency,
    clean_price,
)

PRICE_HELP = (
    "Monthly price. Subscriptions pay the new price from their next period; the current "
    "period keeps the price it started with."
)


class _CatalogueForm(forms.ModelForm):
    def clean_price(self):
        try:
            return clean_price(self.cleaned_data["price"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_currency(self):
        try:
            return clean_currency(self.cleaned_data["currency"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.detail) from None


class PlanForm(_CatalogueForm):
    currency = forms.CharField(
        max_length=3,
        help_text="ISO 4217 code (USD, EUR, GBP…) of the price: only accounts keeping their "
        "books in it order the plan. A plan already bought stays in its buyers' currency.",
        widget=forms.TextInput(attrs={"size": 4, "style": "text-transform: uppercase"}),
    )

    class Meta:
        model = Plan
        fields = (
            "code",
            "name",
            "price",
            "currency",
            "charging",
            "trial_days",
            "active",
            "add_ons",
        )
        help_texts = {"price": PRICE_HELP}

    def clean_currency(self):
        try:
            return clean_plan_currency(self.cleaned_data["currency"], plan=self.instance)
        except InvalidInput as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean(self):
        data = super().clean()
        currency = data.get("currency")
        if currency:
            try:
                check_add_ons_currency(data.get("add_ons") or (), currency)
            except InvalidInput as exc:
                self.add_error("add_ons", exc.detail)
        return data


class AddOnForm(_CatalogueForm):
    class Meta:
        model = AddOn
        fields = ("code", "name", "price", "currency", "active")
        help_texts = {"price": PRICE_HELP}


class _CatalogueAdmin(admin.ModelAdmin):
    search_fields = ("code", "name")
    list_filter = ("active", "currency")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False  # subscriptions point at them: retire with "active" instead

    def get_readonly_fields(self, request, obj=None):
        # Code and currency are what subscriptions and the books rely on.
        return ("code", "currency", "created_at") if obj else ("created_at",)

    @admin.display(description="price", ordering="price")
    def price_display(self, obj):
        if not obj.currency:
            return format_html("{} {}", amount_text(obj.price, "XXX"), "in any currency")
        return money_html(obj.price, obj.currency)

    @admin.display(description="sold", ordering="active", boolean=True)
    def sold(self, obj):
        return obj.active


@admin.register(Plan)
class PlanAdmin(_CatalogueAdmin):
    form = PlanForm
    list_display = (
        "code",
        "name",
        "price_display",
        "charging_badge",
        "trial_days",
        "sold",
        "in_use",
    )
    list_filter = ("active", "charging", "currency")
    filter_horizontal = ("add_ons",)

    def get_readonly_fields(self, request, obj=None):
        # The currency stays editable: the form keeps a bought plan in its buyers' currency.
        fields = tuple(f for f in super().get_readonly_fields(request, obj) if f != "currency")
        # Moving running subscriptions between prepay and postpay would bill a month twice.
        if obj is not None and Subscription.objects.filter(plan=obj).exists():
            fields = (*fields, "charging")
        return fields

    @admin.display(description="charging", ordering="charging")
    def charging_badge(self, obj):
        return badge(
            obj.get_charging_display().split(" (")[0], "info" if obj.is_postpay else "muted"
        )

    def get_queryset(self, request):
        running = Count("subscriptions", filter=Q(subscriptions__status=SubscriptionStatus.ACTIVE))
        return super().get_queryset(request).annotate(running=running)

    @admin.display(description="running subscriptions", ordering="running")
    def in_use(self, obj):
        return obj.running


@admin.register(AddOn)
class AddOnAdmin(_CatalogueAdmin):
    form = AddOnForm
    list_display = ("code", "name", "price_display", "sold")
