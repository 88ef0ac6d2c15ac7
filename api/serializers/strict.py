"""Input that takes the JSON types its schema states, and numbers in queries as digits.

DRF coerces on the way in: `"14"` becomes 14, `1` becomes True, `5` becomes "5". The
services themselves refuse such values (a setting of `1` is not a boolean), and the
schema says `integer`, `boolean`, `string`; so a body whose value is of another JSON
type is a 400 naming the field, before DRF converts it into something it was not.
"""

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import empty

# (field class, the JSON type it takes, how to say it); first match wins.
JSON_TYPES = (
    (serializers.BooleanField, "boolean", "true or false"),
    (serializers.IntegerField, "integer", "a whole number"),
    (serializers.ListField, "array", "a list"),
    (serializers.DateTimeField, "string", "a date and time string (ISO 8601)"),
    (serializers.DateField, "string", "a date string (YYYY-MM-DD)"),
    (serializers.ChoiceField, "string", "a string"),
    (serializers.CharField, "string", "a string"),
)


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "number"


def _expected(field) -> tuple[str, str] | None:
    for field_class, json_type, words in JSON_TYPES:
        if isinstance(field, field_class):
            return json_type, words
    return None  # a field of its own (money) checks its input itself


def _type_error(field, value) -> str | None:
    if value is None:
        return None  # allow_null decides
    expected = _expected(field)
    if expected is None:
        return None
    json_type, words = expected
    if _json_type(value) != json_type:
        return f"Must be {words}, not a JSON {_json_type(value)}."
    if isinstance(field, serializers.ListField):
        for item in value:
            if error := _type_error(field.child, item):
                return f"Each item: {error[0].lower()}{error[1:]}"
    return None


class JsonInput(serializers.Serializer):
    """A request body: each field's value must be of the JSON type the schema states."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            for name, field in self.fields.items():
                if field.read_only or name not in data:
                    continue
                if error := _type_error(field, data[name]):
                    raise serializers.ValidationError({name: error})
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query string: ASCII digits only (no "1.0", no spaces).

    Present but empty (`?account=`) is refused too, where DRF would read it as absent.
    """

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        if value is empty and self.field_name in dictionary:
            return dictionary[self.field_name]
        return value

    def to_internal_value(self, data):
        if isinstance(data, str) and not (data.isascii() and data.lstrip("-").isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)
