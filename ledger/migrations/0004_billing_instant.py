"""Every entry gets its billing instant when booked, and the invoice it was booked for.

- `Entry.bill_at`: when the entry was booked, or the end of its service period if that
  came first, never before the account's billing cut-off (`Balance.billed_until`).
- `Entry.invoice`: the invoice an entry was booked for by name.
- Existing entries are filled in by 0005 (copied from the old link table); 0006 makes
  `bill_at` required and puts the triggers (defined here) in place: an entry is refused
  when its billing instant is before the account's cut-off (unless booked for an invoice
  by name, which must be an invoice of its own account), and a cut-off only moves
  forward. The append-only triggers are lifted here for the copy (a schema change, not
  a booking) and put back by 0006.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

append_only = importlib.import_module("ledger.migrations.0002_append_only_trigger")

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION ledger_entry_after_cutoff() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
    owner bigint;
BEGIN
    IF NEW.invoice_id IS NOT NULL THEN
        SELECT account_id INTO owner FROM invoicing_invoice WHERE id = NEW.invoice_id;
        IF owner IS DISTINCT FROM NEW.account_id THEN
            RAISE EXCEPTION 'ledger entry of account % booked for invoice % of account %',
                NEW.account_id, NEW.invoice_id, owner
                USING ERRCODE = 'check_violation';
        END IF;
    ELSE
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
run = append_only._run
lift_append_only = run(append_only.POSTGRES_DOWN)
restore_append_only = run(append_only.POSTGRES_UP)


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
    ]
