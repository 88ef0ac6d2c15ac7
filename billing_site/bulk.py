"""Many new rows of one model at once, for the monthly run and its outbox events.

`bulk_create` builds a model instance per row, an INSERT with every value bound as a
parameter, and prepares each value through its field; for the run's hundreds of
thousands of lines, logs, payments, rounding entries and events that was most of the
run's time. These helpers stream the rows with COPY through psycopg
instead: one statement per model and chunk, with every trigger, CHECK, unique and
foreign-key constraint applying as for an INSERT, and errors raised as Django's. Ids
come from the table's own sequence, taken up front in one query.

Values are sent as given: the callers are services building new rows of concrete
fields (attribute names, so `invoice_id` rather than `invoice`), with no database
expressions.
"""

import json
from collections.abc import Sequence

from django.db import connection, models
from django.utils import timezone
from psycopg import sql


def _take_ids(cursor, meta, count: int) -> list[int]:
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [meta.db_table, meta.pk.column, count],
    )
    return [new_id for (new_id,) in cursor.fetchall()]


def _copy(cursor, meta, columns: list[str], rows) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # Through Django's error wrapper, so a refused row raises IntegrityError as an
    # INSERT would.
    with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _stamp_defaults(model, fields: Sequence[str]) -> tuple[list[str], list]:
    """Fields the caller left out, as Django would fill them in on insert: auto_now(_add)
    with the current time, the others with their default."""
    given = set(fields)
    now = timezone.now()
    extra, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default() and callable(field.default):
            raise ValueError(f"{model.__name__}.{field.attname} has a callable default: give it")
        else:
            value = field.get_default()  # the default, "" for a blank string field, or None
            if value is not None and isinstance(field, models.JSONField):
                value = json.dumps(value, cls=field.encoder)
        extra.append(field.attname)
        values.append(value)
    return extra, values


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence],
    *,
    returning_ids: bool = False,
) -> list[int]:
    """Insert `rows` (tuples of values for `fields`, attribute names) as new `model`
    rows; returns their ids, in order, when `returning_ids`."""
    if not rows:
        return []
    extra, extra_values = _stamp_defaults(model, fields)  # refuses a missing callable default
    meta = model._meta
    by_name = {f.attname: f for f in meta.concrete_fields}
    json_at = [i for i, name in enumerate(fields) if isinstance(by_name[name], models.JSONField)]
    columns = [by_name[name].column for name in [*fields, *extra]]

    def prepared(row):
        row = list(row)
        for i in json_at:
            if row[i] is not None:
                row[i] = json.dumps(row[i], cls=by_name[fields[i]].encoder)
        return [*row, *extra_values]

    with connection.cursor() as cursor:
        if returning_ids:
            ids = _take_ids(cursor, meta, len(rows))
            columns = [meta.pk.column, *columns]
            _copy(
                cursor, meta, columns, ([i, *prepared(r)] for i, r in zip(ids, rows, strict=True))
            )
            return ids
        _copy(cursor, meta, columns, (prepared(r) for r in rows))
    return []


def bulk_insert(objs: Sequence[models.Model]) -> Sequence[models.Model]:
    """Insert new model instances of one model; like `bulk_create`, they get their pks."""
    if not objs:
        return objs
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for obj in objs:
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                field.pre_save(obj, add=True)
    ids = insert_rows(
        model,
        [f.attname for f in fields],
        [[getattr(obj, f.attname) for f in fields] for obj in objs],
        returning_ids=True,
    )
    for obj, new_id in zip(objs, ids, strict=True):
        obj.pk = new_id
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


UPDATE_BATCH = 2000  # objects per UPDATE: well below PostgreSQL's 65,535 parameters


def bulk_update_fields(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` (attribute names) of saved objects of one model, like `bulk_update`.

    On PostgreSQL one `UPDATE … FROM (VALUES …)` per batch, each value prepared by its
    field and cast to its column's type; Django's `bulk_update` builds a CASE per field
    and object instead, which for the monthly run's allocations cost more than the writes.
    """
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    casts = [meta.pk.db_type(connection), *(f.db_type(connection) for f in columns)]
    row = sql.SQL("(" + ", ".join(f"%s::{cast}" for cast in casts) + ")")

    def statement(count: int) -> sql.Composed:
        return sql.SQL(
            "UPDATE {table} SET {sets} FROM (VALUES {rows}) AS v ({names}) "
            "WHERE {table}.{pk} = v.{pk}"
        ).format(
            table=sql.Identifier(meta.db_table),
            sets=sql.SQL(", ").join(
                sql.SQL("{c} = v.{c}").format(c=sql.Identifier(f.column)) for f in columns
            ),
            rows=sql.SQL(", ").join([row] * count),
            names=sql.SQL(", ").join(
                map(sql.Identifier, [meta.pk.column, *(f.column for f in columns)])
            ),
            pk=sql.Identifier(meta.pk.column),
        )

    with connection.cursor() as cursor:
        for start in range(0, len(objs), UPDATE_BATCH):
            batch = objs[start : start + UPDATE_BATCH]
            params = [
                value
                for obj in batch
                for value in (
                    obj.pk,
                    *(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns),
                )
            ]
            cursor.execute(statement(len(batch)).as_string(cursor.cursor), params)
