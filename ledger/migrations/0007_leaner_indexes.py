"""Fewer indexes to write per entry: the (account, …) indexes serve look-ups by account,
and the invoice an entry was booked for gets a partial index (almost every entry has none).

SQLite rebuilds the table to alter a field and drops its triggers with it: they are put
back afterwards (and after the reverse, for the same reason), with the one that checks
an entry's named invoice belongs to its account (see 0004). PostgreSQL keeps them.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

append_only = importlib.import_module("ledger.migrations.0002_append_only_trigger")
billing_instant = importlib.import_module("ledger.migrations.0004_billing_instant")


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in [
        *append_only.SQLITE_DOWN,
        *billing_instant.SQLITE_DOWN,
        *billing_instant.SQLITE_OWN_INVOICE_DOWN,
    ]:
        schema_editor.execute(statement)
    for statement in [
        *append_only.SQLITE_UP,
        *billing_instant.SQLITE_UP,
        *billing_instant.SQLITE_OWN_INVOICE_UP,
    ]:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_credit_limit_check_refuses_null"),
        ("invoicing", "0006_leaner_indexes"),
        ("ledger", "0006_billing_instant_required"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_triggers),
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="accounts.billingaccount",
            ),
        ),
        migrations.AlterField(
            model_name="entry",
            name="invoice",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The invoice this entry was booked for (its rounding, or the reversal of a cancelled invoice). Other entries are billed by the invoice whose window holds their billing instant.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="booked_entries",
                to="invoicing.invoice",
            ),
        ),
        migrations.AddIndex(
            model_name="entry",
            index=models.Index(
                condition=models.Q(("invoice__isnull", False)),
                fields=["invoice"],
                name="entry_booked_for_invoice",
            ),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
    ]
