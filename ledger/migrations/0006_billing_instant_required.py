"""Entries need their billing instant from here on; the ledger's triggers come back.

After 0005's copy, in a migration of its own, so the copy's deferred foreign-key checks
are done before PostgreSQL alters the table again.
"""

import importlib

from django.db import migrations, models

billing_instant = importlib.import_module("ledger.migrations.0004_billing_instant")
run = billing_instant.run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_copy_invoice_links")]

    operations = [
        migrations.AlterField(
            model_name="entry",
            name="bill_at",
            field=models.DateTimeField(
                help_text="Decides which invoice bills the entry: when it was booked, or the "
                "end of its service period if that came first, but never before the "
                "account's last billing cut-off.",
                verbose_name="billing instant",
            ),
        ),
        migrations.AddIndex(
            model_name="entry",
            index=models.Index(fields=["account", "bill_at"], name="entry_account_bill_at"),
        ),
        migrations.RunPython(billing_instant.restore_append_only, billing_instant.lift_append_only),
        migrations.RunPython(
            run(billing_instant.POSTGRES_UP),
            run(billing_instant.POSTGRES_DOWN),
        ),
    ]
