"""Every entry gets its billing instant when booked, and the invoice it was booked for.

- `Entry.bill_at`: when the entry was booked, or the end of its service period if that
  came first, never before the account's billing cut-off (`Balance.billed_until`).
  Existing entries get their natural instant.
- `Entry.invoice`: copied from the old link table (`invoicing_invoicedentry`), so every
  invoice issued before keeps exactly the entries it billed; their accounts have no
  cut-off yet, and their next invoice bills what no link named.
- Triggers: an entry is refused when its billing instant is before the account's cut-off
  (unless booked for an invoice by name), and a cut-off only moves forward. The
  append-only triggers are lifted for the copy (a schema change, not a booking) and put
  back; SQLite would lose them anyway when the table is rebuilt.
"""

import importlib
from datetime import datetime, time, timedelta

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

append_only = importlib.import_module("ledger.migrations.0002_append_only_trigger")

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION ledger_entry_after_cutoff() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF NEW.invoice_id IS NULL THEN
        SELECT billed_until INTO cutoff FROM ledger_balance WHERE account_id = NEW.account_id;
        IF cutoff IS NOT NULL AND NEW.bill_at < cutoff THEN
            RAISE EXCEPTION 'ledger entry of account % billed at % is before the account''s '
                'billing cut-off %', NEW.account_id, NEW.bill_at, cutoff
                USING ERRCODE = 'check_violation',
                      HINT = 'An invoiced window is closed: bill the entry from the cut-off on.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_entry_after_cutoff
    BEFORE INSERT ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_after_cutoff();

CREATE OR REPLACE FUNCTION ledger_balance_cutoff_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the billing cut-off of account % only moves forward (% to % refused)',
        OLD.account_id, OLD.billed_until, NEW.billed_until
        USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER ledger_balance_cutoff_forward
    BEFORE UPDATE OF billed_until ON ledger_balance
    FOR EACH ROW
    WHEN (OLD.billed_until IS NOT NULL
          AND (NEW.billed_until IS NULL OR NEW.billed_until < OLD.billed_until))
    EXECUTE FUNCTION ledger_balance_cutoff_forward();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS ledger_entry_after_cutoff ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_after_cutoff();
DROP TRIGGER IF EXISTS ledger_balance_cutoff_forward ON ledger_balance;
DROP FUNCTION IF EXISTS ledger_balance_cutoff_forward();
"""
SQLITE_UP = [
    """CREATE TRIGGER ledger_entry_after_cutoff BEFORE INSERT ON ledger_entry
       WHEN NEW.invoice_id IS NULL AND NEW.bill_at <
            (SELECT billed_until FROM ledger_balance WHERE account_id = NEW.account_id)
       BEGIN SELECT RAISE(ABORT,
           'ledger entry billed before the account''s billing cut-off refused'); END;""",
    """CREATE TRIGGER ledger_balance_cutoff_forward BEFORE UPDATE OF billed_until
       ON ledger_balance
       WHEN OLD.billed_until IS NOT NULL
            AND (NEW.billed_until IS NULL OR NEW.billed_until < OLD.billed_until)
       BEGIN SELECT RAISE(ABORT, 'the billing cut-off only moves forward'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS ledger_entry_after_cutoff;",
    "DROP TRIGGER IF EXISTS ledger_balance_cutoff_forward;",
]

run = append_only._run
lift_append_only = run({"postgresql": append_only.POSTGRES_DOWN, "sqlite": append_only.SQLITE_DOWN})
restore_append_only = run({"postgresql": append_only.POSTGRES_UP, "sqlite": append_only.SQLITE_UP})


def _natural(created_at, period_end):
    """`ledger.models.natural_bill_at` as of this migration."""
    if period_end is None:
        return created_at
    end = timezone.make_aware(datetime.combine(period_end + timedelta(days=1), time.min))
    return min(created_at, end - timedelta(microseconds=1))


def copy_links(apps, schema_editor):
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
    dependencies = [
        ("ledger", "0003_beat_schedule"),
        ("invoicing", "0004_billing_windows"),
    ]

    operations = [
        migrations.RunPython(lift_append_only, restore_append_only),
        migrations.AlterField(
            model_name="entry",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=timezone.now, editable=False),
        ),
        migrations.AddField(
            model_name="entry",
            name="invoice",
            field=models.ForeignKey(
                blank=True,
                help_text="The invoice this entry was booked for (its rounding, or the reversal "
                "of a cancelled invoice). Other entries are billed by the invoice whose window "
                "holds their billing instant.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="booked_entries",
                to="invoicing.invoice",
            ),
        ),
        migrations.AddField(
            model_name="entry",
            name="bill_at",
            field=models.DateTimeField(null=True, verbose_name="billing instant"),
        ),
        migrations.AddField(
            model_name="balance",
            name="billed_until",
            field=models.DateTimeField(
                blank=True,
                help_text="The cut-off of the account's last invoice: every billable entry "
                "whose billing instant is before it has been invoiced.",
                null=True,
            ),
        ),
        migrations.RunPython(copy_links, migrations.RunPython.noop),
    ]
