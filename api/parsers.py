"""JSON in which every number with a fraction is a Decimal, never a float.

An amount that passed through binary floating point has already lost digits (0.1 is
not 0.1), so `12.5` arrives as `Decimal("12.5")`, exactly as if it had been sent as the
string "12.5". JSON has no NaN or Infinity; Python's parser accepts them anyway, so
they are refused here, naming the field that carried one.

Hostile bodies are refused before they cost anything: a body past the upload limit is a
413 (`BodyTooLarge`, also raised by `ApiView` from Content-Length before parsing), and
nesting deeper than any request needs is a 400, where Python's recursive parser would
otherwise run out of stack (100 KB of `[` did).
"""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# No request body of this API nests deeper than a few levels (a batch of charges, each
# with a money object, is four); 32 leaves room and stays far from the stack's limit.
MAX_DEPTH = 32


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int):
        super().__init__(
            f"The request body is larger than this endpoint's limit of {limit / 2**20:g} MiB "
            f"({limit:,} bytes)."
        )


def upload_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def content_length(request) -> int | None:
    """The declared body size; None when absent or not a number (Django reads no body then)."""
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isascii() and raw.isdigit() else None


class NonFiniteNumber(ParseError):
    def __init__(self, constant: str, field: str | None):
        super().__init__(
            f"{constant} is not a number JSON allows; send amounts as decimal strings "
            'such as "12.50".'
        )
        self.field = field


class _Constant:
    """Stands in for NaN/Infinity while parsing, so the field can be named afterwards."""

    def __init__(self, name: str):
        self.name = name


class TooDeep(ParseError):
    def __init__(self):
        super().__init__(
            f"The body nests arrays or objects more than {MAX_DEPTH} levels deep; no request "
            "of this API needs that."
        )


def _check(data) -> None:
    """Refuse NaN/Infinity (naming the field) and nesting past MAX_DEPTH; iterative."""
    pending = [(data, ())]
    while pending:
        value, path = pending.pop()
        if isinstance(value, _Constant):
            raise NonFiniteNumber(value.name, ".".join(path) or None)
        if isinstance(value, dict | list):
            if len(path) >= MAX_DEPTH:
                raise TooDeep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            # Reversed, so the first offending field in document order is the one named.
            pending.extend((item, (*path, str(key))) for key, item in reversed(list(items)))


class DecimalJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = upload_limit()
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise BodyTooLarge(limit)
        try:
            text = body.decode(encoding)
        except (LookupError, ValueError) as exc:  # not that encoding, or not a text codec
            raise ParseError(f"The body is not valid {encoding} text: {exc}.") from exc
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_Constant)
        except RecursionError:
            raise TooDeep() from None
        except ValueError as exc:  # bad JSON, an integer of 5,000 digits
            raise ParseError(f"The body is not valid JSON: {exc}.") from exc
        except ArithmeticError:  # Decimal's InvalidOperation: an exponent past its range
            raise ParseError("The body holds a number too large or too small to read.") from None
        _check(data)
        return data
