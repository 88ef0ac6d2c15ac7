"""API keys in the control panel: made through the service, shown once, revoked."""

from django.contrib import admin, messages

from .models import ApiKey, IdempotencyRecord
from .services import api_key_create, api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    actions = ("revoke",)
    # The hash is never shown: it is no use to a person and one less thing to leak.
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("user", "name", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "name", *self.readonly_fields)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key's history stays

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on a key is editable
        key, raw_key = api_key_create(user=obj.user, name=obj.name)
        # The admin goes on with `obj` (log entry, redirect): make it the saved key.
        obj.__dict__.update({k: v for k, v in key.__dict__.items() if k != "_state"})
        obj._state.adding = False
        obj._state.db = key._state.db
        messages.warning(
            request,
            f"The new API key for {key.user} is {raw_key} — copy it now: it is stored "
            "hashed and cannot be shown again.",
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        for key_id in queryset.values_list("pk", flat=True):
            api_key_revoke(key_id=key_id)
        self.message_user(request, "The selected keys are revoked and no longer work.")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    """Read-only: what a retried request will be answered with."""

    list_display = ("key", "owner", "method", "path", "response_status", "created_at")
    search_fields = ("key", "path", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
