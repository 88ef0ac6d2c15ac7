"""Admin bases for records nobody edits by hand (history, links, attempts).

Their rows change only through the services, so the admin shows them and nothing more.
"""

from django.contrib import admin


class _NoWrites:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(_NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False


class ReadOnlyModelAdmin(_NoWrites, admin.ModelAdmin):
    pass
