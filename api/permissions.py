"""The permission each API action needs, checked after the object is found in scope."""

from django.contrib.auth.models import Permission
from rest_framework.permissions import BasePermission

from .selectors import client_id_of


def _describe(perm: str) -> str:
    app_label, codename = perm.split(".", 1)
    name = (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .values_list("name", flat=True)
        .first()
    )
    return f"{perm} ({name})" if name else perm


class HasActionPermission(BasePermission):
    """`view.required_permission`; client logins may also read their own account.

    For views that act on one object (`view.object_scoped`), the check waits until the
    object was found in the caller's scope: 404 before 403.
    """

    def has_permission(self, request, view):
        if getattr(view, "object_scoped", False):
            return True
        return self._allowed(request, view)

    def has_object_permission(self, request, view, obj):
        return self._allowed(request, view)

    def _allowed(self, request, view) -> bool:
        user = request.user
        if getattr(view, "client_users_may", False) and client_id_of(user) is not None:
            return True
        perm = view.required_permission
        if user.has_perm(perm):
            return True
        self.message = f"This API key's user lacks the permission {_describe(perm)}."
        return False
