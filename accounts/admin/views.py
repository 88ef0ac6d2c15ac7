"""Helpers for the small service-backed pages (convert, block, charge, add client)."""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse

ACTION_TEMPLATE = "admin/billing/action_form.html"


def require_perm(request, perm: str) -> None:
    """403 unless the user holds `perm` (checked in the view, not only by hiding a button)."""
    if not request.user.has_perm(perm):
        raise PermissionDenied


def get_viewable(model_admin, request, object_id):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} with id {object_id}.")
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    return obj


def render_action(model_admin, request, *, title, form, submit_label, cancel_url, **context):
    """One page for every small form: breadcrumbs, the form in admin style, cancel link."""
    opts = model_admin.opts
    return TemplateResponse(
        request,
        ACTION_TEMPLATE,
        {
            **model_admin.admin_site.each_context(request),
            "opts": opts,
            "title": title,
            "form": form,
            "submit_label": submit_label,
            "cancel_url": cancel_url,
            "has_view_permission": model_admin.has_view_permission(request),
            **context,
        },
    )
