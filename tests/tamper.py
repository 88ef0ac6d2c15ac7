"""What only the owner of the tables can do: write with the database's guards lifted.

The application's role does not own the schema (docs/operations.md), so it can never
disable a trigger; the tests run as the owner and use this to show what `verify_ledger`
finds after someone who could did.
"""

from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def guards_lifted(*tables: str):
    """Inside one transaction, the named tables' own triggers are off, then back on."""
    with transaction.atomic(), connection.cursor() as cursor:
        # ALTER TABLE waits for no deferred foreign-key check: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        yield cursor
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
