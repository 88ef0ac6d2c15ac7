"""Admin bases for records nobody edits by hand (history, links, attempts), and how the
admin shows a read-only related object.

Their rows change only through the services, so the admin shows them and nothing more.
"""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.helpers import AdminReadonlyField


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


def may_open(request, admin_site, model, obj) -> bool:
    """Whether `obj`'s change page on `admin_site` would show it to `request.user`
    (the check that page makes before answering 403)."""
    if request is None:
        return False
    try:
        model_admin = admin_site.get_model_admin(model)
    except NotRegistered:
        return False
    return model_admin.has_view_or_change_permission(request, obj)


class PermittedReadonlyField(AdminReadonlyField):
    """Django's read-only field, linking a related object only for a viewer who may open it.

    Django links every read-only foreign key (in `readonly_fields`, in inlines, on the
    pages of a user who may only view) to the related object's change page without
    asking whether the viewer may open it: it has no request. Billing staff were shown
    `changed_by`, `created_by`, … as links to users' pages that answer them 403. Here
    the viewer gets the link only if that page would show them the object (a superuser
    always), and otherwise the object's name as text.

    Rendered by `{% readonly_contents field %}` (templatetags/readonly_links.py) in the
    admin's two templates that show read-only fields, so every admin is covered and no
    admin class has to do anything.
    """

    def __init__(self, field: AdminReadonlyField, request):
        super().__init__(field.form, field.field["field"], field.is_first, field.model_admin)
        self.request = request

    def get_admin_url(self, remote_field, remote_obj):
        if may_open(self.request, self.model_admin.admin_site, remote_field.model, remote_obj):
            return super().get_admin_url(remote_field, remote_obj)
        return str(remote_obj)
