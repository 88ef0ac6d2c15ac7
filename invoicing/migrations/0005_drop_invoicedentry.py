"""The per-entry link table is gone: ledger migration 0005 copied its rows into
`Entry.invoice`, and new invoices bill windows of billing instants."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0004_billing_windows"),
        ("ledger", "0006_billing_instant_required"),
    ]

    operations = [migrations.DeleteModel(name="InvoicedEntry")]
