"""System settings (one row, django-solo) and the log of their changes.

The page's form is judged by `settings_clean` (errors on the field) and saved by
`settings_update`, which checks the permission and records every changed value.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from solo.admin import SingletonModelAdmin

from accounts.admin.display import local_minute

from ..models import PostpaidPermissionMode, SettingsChange, SystemSettings
from ..selectors import pending_operation_count, recent_settings_changes, setting_label
from ..services import settings_update
from .forms import SystemSettingsForm


@admin.register(SystemSettings)
class SystemSettingsAdmin(SingletonModelAdmin):
    form = SystemSettingsForm
    change_form_template = "admin/approvals/systemsettings/change_form.html"
    fieldsets = (
        (
            "Postpaid",
            {
                "fields": ("postpaid_permission_mode",),
                "description": "Switching keeps every account's postpaid permission as it "
                "is (it applies again when the mode returns to manual), leaves operations "
                "waiting in the queue, and keeps every subscription running.",
            },
        ),
        ("Invoicing", {"fields": ("external_invoicing", "default_payment_term_days")}),
        ("Notifications", {"fields": ("due_reminder_days",)}),
    )

    def save_model(self, request, obj, form, change):
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        if changed:
            settings_update(changed_by=request.user, **changed)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pending = pending_operation_count()
        extra_context = {
            **(extra_context or {}),
            "title": "System settings",
            "recent_changes": [
                {"change": change, "label": setting_label(change.field)}
                for change in recent_settings_changes()
            ],
            "changes_url": reverse("admin:approvals_settingschange_changelist"),
            "pending_count": pending,
            "queue_url": reverse("admin:approvals_pendingmanualoperation_changelist"),
            "manual_mode": PostpaidPermissionMode.MANUAL,
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SettingsChange)
class SettingsChangeAdmin(admin.ModelAdmin):
    """Written by `settings_update` only; nobody edits or deletes history."""

    list_display = ("when", "who", "setting", "change")
    list_filter = ("field",)
    list_select_related = ("changed_by",)
    date_hierarchy = "changed_at"
    show_full_result_count = False
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="when", ordering="changed_at")
    def when(self, obj):
        return local_minute(obj.changed_at)

    @admin.display(description="by")
    def who(self, obj):
        return obj.changed_by or "system"

    @admin.display(description="setting", ordering="field")
    def setting(self, obj):
        return format_html(
            '{} <span class="quiet">({})</span>', setting_label(obj.field), obj.field
        )

    @admin.display(description="from → to")
    def change(self, obj):
        return f"{obj.from_value} → {obj.to_value}"
