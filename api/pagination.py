"""`?limit=&offset=` pages whose bounds are checked, not guessed.

DRF's own pagination reads a bad `limit` as the default and passes any whole number on
to the database, where one past PostgreSQL's bigint range fails the query (a 500). Here
a bound that is not a whole number in range is a 400 naming the parameter, and the
schema states the range, so a client learns the rule before it breaks it.
"""

import re

from rest_framework.pagination import LimitOffsetPagination

from billing_site.exceptions import InvalidInput

MAX_LIMIT = 1000
# LIMIT and OFFSET are bigints in PostgreSQL.
MAX_OFFSET = 2**63 - 1
_WHOLE_NUMBER = re.compile(r"[0-9]{1,30}")


def _bound(request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None
    if value is None or not minimum <= value <= maximum:
        raise InvalidInput(
            f"“{name}” must be a whole number from {minimum} to {maximum:,}; got {raw[:40]!r}.",
            field=name,
        )
    return value


class CheckedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request):
        return _bound(
            request,
            self.limit_query_param,
            default=self.default_limit,
            minimum=1,
            maximum=MAX_LIMIT,
        )

    def get_offset(self, request):
        return _bound(request, self.offset_query_param, default=0, minimum=0, maximum=MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        ranges = {
            self.limit_query_param: {"minimum": 1, "maximum": MAX_LIMIT},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        for parameter in parameters:
            parameter["schema"].update(ranges.get(parameter["name"], {}))
        return parameters
