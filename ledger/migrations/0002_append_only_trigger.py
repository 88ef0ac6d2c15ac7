"""Refuse UPDATE and DELETE on ledger entries in the database itself.

The ORM never updates an entry, but a shell session, a raw query or a future bug could;
the books stay append-only whatever client writes to them. A mistake is corrected by a
reversing entry.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION ledger_entry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Correct a mistake with a reversing entry.';
END
$$;
CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_append_only();
"""


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            raise RuntimeError(
                "The ledger's triggers are PL/pgSQL: the product runs on PostgreSQL."
            )
        schema_editor.execute(statements, params=None)  # the PL/pgSQL uses % itself

    return apply


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run(POSTGRES_UP),
            _run(POSTGRES_DOWN),
        )
    ]
