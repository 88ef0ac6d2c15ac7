"""Pages of the site itself (the apps keep their own views), and its error pages.

Under /api/ every answer is the API's JSON error body, whatever part of Django refused
the request (no URL, a bad Host header, a CSRF check, a crash in a middleware); the
admin, the portal and the start page keep Django's HTML pages.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views import csrf, defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from api.errors import error_body
from api.parsers import upload_limit

logger = logging.getLogger(__name__)


@require_safe
def start_page(request):
    """Where `make run` sends a browser: the way to the admin, the portal and the API."""
    return render(request, "billing_site/start.html")


@never_cache
@require_safe
def healthz(request):
    """200 when the database answers, 503 when it does not.

    Anyone may ask, so the answer says nothing of the failure (a database error names
    hosts, ports and users); the log has it.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means unhealthy; logged with its cause
        logger.exception("Health check failed: the database did not answer")
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def is_api(request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _json_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=status)


def bad_request(request, exception=None):
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = upload_limit()
        return _json_error(
            413,
            "request_too_large",
            f"The request body is larger than the limit of {limit:,} bytes.",
        )
    return _json_error(400, "bad_request", "The request could not be read as it was sent.")


def permission_denied(request, exception=None):
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return _json_error(403, "permission_denied", "You do not have permission to do this.")


def page_not_found(request, exception=None):
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return _json_error(
        404,
        "not_found",
        f"There is no API endpoint at {request.path}; the API is under /api/v1/, "
        "see /api/v1/schema/.",
    )


def server_error(request):
    if not is_api(request):
        return defaults.server_error(request)
    return _json_error(500, "server_error", "Something went wrong on our side.")


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: API keys never meet the check, but no HTML page answers there."""
    if not is_api(request):
        return csrf.csrf_failure(request, reason)
    return _json_error(
        403,
        "csrf_failed",
        "This request carried a session cookie but no CSRF token; the API authenticates "
        "with `Authorization: Token <key>`.",
    )
