"""One error body for every failure the API answers.

`{"error": "<code>", "detail": "<sentence>", "field": "<name>"}`, `field` only when one
input is to blame. Domain errors keep the code and sentence the service gave them; the
HTTP status follows from their class.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from billing_site.exceptions import (
    DomainError,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionRefused,
)
from ledger.exceptions import SpendRefused

from .parsers import BodyTooLarge, upload_limit

logger = logging.getLogger(__name__)

# First match wins, so subclasses come before their bases.
DOMAIN_STATUS = (
    (SpendRefused, status.HTTP_402_PAYMENT_REQUIRED),
    (IdempotencyConflict, status.HTTP_409_CONFLICT),
    (InvalidTransition, status.HTTP_409_CONFLICT),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (PermissionRefused, status.HTTP_403_FORBIDDEN),
    (InvalidInput, status.HTTP_400_BAD_REQUEST),
)
# The services name their own arguments; the API's caller knows some of them by
# another name.
FIELD_NAMES = {"idempotency_key": "Idempotency-Key"}


def error_body(code: str, detail: str, field: str | None = None) -> dict:
    body = {"error": code, "detail": str(detail)}
    if field:
        body["field"] = FIELD_NAMES.get(field, field)
    return body


def domain_error_response(exc: DomainError) -> Response:
    """The answer to a domain error: its code and sentence, the status its class has."""
    http_status = next(
        (code for cls, code in DOMAIN_STATUS if isinstance(exc, cls)),
        status.HTTP_400_BAD_REQUEST,
    )
    return Response(error_body(exc.code, exc.detail, exc.field), status=http_status)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        set_rollback()
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found, or not visible to this API key.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # Django's multipart parser, past the limit
        exc = BodyTooLarge(upload_limit())
    elif isinstance(exc, SuspiciousOperation):  # too many fields or files, and the like
        exc = exceptions.ParseError(f"The request was refused: {exc}")
    response = drf_exception_handler(exc, context)  # status, headers, rollback
    if response is None:
        return _server_error(exc, context)
    if isinstance(exc, exceptions.ValidationError):
        field, detail = first_error(exc.detail)
        response.data = error_body("invalid", detail, field)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response.data = error_body(code, exc.detail, getattr(exc, "field", None))
    return response


def _server_error(exc, context) -> Response:
    """A bug, not a refusal: logged with its traceback, answered in the same JSON shape."""
    request = context.get("request")
    logger.error(
        "Unhandled error in %s %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        exc_info=exc,
    )
    set_rollback()
    # The error may come after a commit, so the answer never says nothing was changed.
    return Response(
        error_body(
            "server_error",
            "Something went wrong on our side. If you sent an Idempotency-Key, retry with "
            "the same key: a change that was made is answered, never made twice.",
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def first_error(detail, path=()) -> tuple[str | None, str]:
    """The first offending field (dotted for nested input) and its message."""
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        return first_error(value, (*path, str(key)))
    if isinstance(detail, list) and detail:
        return first_error(detail[0], path)
    names = [p for p in path if p != api_settings.NON_FIELD_ERRORS_KEY]
    field = ".".join(names) or None
    message = str(detail) or "The request is not valid."
    if field:
        # DRF speaks of "this field"; the caller reads the error without the form.
        message = message.replace("This field", f"“{field}”").replace("this field", field)
    return field, message


@csrf_exempt  # a key, not a cookie, authenticates here: no CSRF page in place of the 404
def not_found_view(request, *args, **kwargs):
    """JSON 404 for any path under the API that names no endpoint."""
    return JsonResponse(
        error_body(
            "not_found",
            f"There is no API endpoint at {request.path}; paths end with a slash, "
            "see /api/v1/schema/.",
        ),
        status=status.HTTP_404_NOT_FOUND,
    )
