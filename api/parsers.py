"""JSON in which every number with a fraction is a Decimal, never a float.

An amount that passed through binary floating point has already lost digits (0.1 is
not 0.1), so `12.5` arrives as `Decimal("12.5")`, exactly as if it had been sent as the
string "12.5". JSON has no NaN or Infinity; Python's parser accepts them anyway, so
they are refused here, naming the field that carried one.
"""

import codecs
import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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


def _find_constant(value, path=()):
    if isinstance(value, _Constant):
        return value, path
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            found = _find_constant(item, (*path, str(key)))
            if found:
                return found
    return None


class DecimalJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.load(
                codecs.getreader(encoding)(stream), parse_float=Decimal, parse_constant=_Constant
            )
        except ValueError as exc:  # bad JSON, bad encoding, an integer of 5,000 digits
            raise ParseError(f"The body is not valid JSON: {exc}.") from exc
        found = _find_constant(data)
        if found:
            constant, path = found
            raise NonFiniteNumber(constant.name, ".".join(path) or None)
        return data
