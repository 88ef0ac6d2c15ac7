"""A changelist paginator that does not count a million rows on every page view.

`SELECT COUNT(*)` over the whole ledger takes seconds on PostgreSQL; the planner's row
estimate (`pg_class.reltuples`, kept fresh by autovacuum) is free. It is used only for
an unfiltered list of a large table, where a page count that is off by a little does no
harm; filtered lists and small tables count exactly.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 100_000


def estimated_rows(queryset) -> int | None:
    """The planner's estimate of the model table's rows; None when there is none."""
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1 means the table was never analysed.
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


def is_unfiltered(queryset) -> bool:
    return not queryset.query.where and not queryset.query.distinct


class EstimatedCountPaginator(Paginator):
    """Exact count, except for an unfiltered large PostgreSQL table: the estimate."""

    @cached_property
    def count(self):
        queryset = self.object_list
        if hasattr(queryset, "query") and is_unfiltered(queryset):
            estimate = estimated_rows(queryset)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count
