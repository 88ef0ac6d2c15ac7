"""Invoices bill a window of billing instants instead of one link row per billed entry.

The windows are filled in from here on; invoices issued before keep their entries through
the explicit `Entry.invoice` links that ledger migration 0004 copies from the old table.
"""

from django.db import migrations, models
from django.db.models import F, Q


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0003_erp_invoicing")]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="bills_from",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="Start of the billing window: the account's cut-off before this "
                "invoice (empty for its first invoice).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="bills_until",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="End of the billing window (exclusive): the account's cut-off after it.",
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=Q(bills_from__isnull=True)
                | Q(bills_until__isnull=False, bills_from__lt=F("bills_until")),
                name="invoice_window_ordered",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(
                fields=("account", "bills_from"), name="invoice_window_starts_once"
            ),
        ),
    ]
