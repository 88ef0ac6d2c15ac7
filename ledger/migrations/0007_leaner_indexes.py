"""Fewer indexes to write per entry: the (account, …) indexes serve look-ups by account,
and the invoice an entry was booked for gets a partial index (almost every entry has none).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_credit_limit_check_refuses_null"),
        ("invoicing", "0006_leaner_indexes"),
        ("ledger", "0006_billing_instant_required"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
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
    ]
