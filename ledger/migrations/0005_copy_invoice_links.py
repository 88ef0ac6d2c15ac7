"""Existing entries get their natural billing instant and the invoice that billed them.

Copied from the old link table (`invoicing_invoicedentry`) into `Entry.invoice`, so every
invoice issued before keeps exactly the entries it billed; their accounts have no cut-off
yet, and their next invoice bills what no link named. In a migration of its own: the
copy's deferred foreign-key checks must be done (its transaction committed) before
PostgreSQL alters or indexes the table again. Irreversible: once invoices bill windows,
their entries have no link rows to give back.
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def _natural(created_at, period_end):
    """`ledger.models.natural_bill_at` as of this migration."""
    if period_end is None:
        return created_at
    end = timezone.make_aware(datetime.combine(period_end + timedelta(days=1), time.min))
    return min(created_at, end - timedelta(microseconds=1))


def copy_links(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Set-based: one pass over the ledger, whatever its size.
        schema_editor.execute(
            "UPDATE ledger_entry e SET invoice_id = l.invoice_id "
            "FROM invoicing_invoicedentry l WHERE l.entry_id = e.id"
        )
        schema_editor.execute(
            "UPDATE ledger_entry SET bill_at = LEAST(created_at, "
            "((period_end + 1)::timestamp AT TIME ZONE %s) - interval '1 microsecond')",
            [settings.TIME_ZONE],
        )
        return
    Entry = apps.get_model("ledger", "Entry")
    InvoicedEntry = apps.get_model("invoicing", "InvoicedEntry")
    invoice_of = dict(InvoicedEntry.objects.values_list("entry_id", "invoice_id"))
    batch = []
    for entry in Entry.objects.order_by("pk").iterator(chunk_size=2000):
        entry.bill_at = _natural(entry.created_at, entry.period_end)
        entry.invoice_id = invoice_of.get(entry.pk)
        batch.append(entry)
        if len(batch) == 2000:
            Entry.objects.bulk_update(batch, ["bill_at", "invoice_id"])
            batch = []
    Entry.objects.bulk_update(batch, ["bill_at", "invoice_id"])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_billing_instant")]

    operations = [migrations.RunPython(copy_links)]
