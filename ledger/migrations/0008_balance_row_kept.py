"""An account's balance row is kept for good, in the database itself.

The row carries the account's billing cut-off (`billed_until`), which 0004's trigger only
lets move forward. Deleting the row and inserting a fresh one would bring the cut-off
back to nothing and reopen every invoiced window, so:

- a balance row is never deleted, and never moved to another account;
- a balance row inserted for an account that has invoices carries the cut-off of its
  last one (a row is normally created with its account, before anything is booked).
"""

import importlib

from django.db import migrations

# The one runner of the ledger's PL/pgSQL (it refuses any other engine).
run = importlib.import_module("ledger.migrations.0002_append_only_trigger")._run

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION ledger_balance_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the balance row of account % is kept for good: DELETE refused',
            OLD.account_id
            USING ERRCODE = 'restrict_violation',
                  HINT = 'It carries the billing cut-off; correct the books with entries.';
    ELSIF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the balance row of account % stays that account''s (% refused)',
            OLD.account_id, NEW.account_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    SELECT max(bills_until) INTO cutoff FROM invoicing_invoice
     WHERE account_id = NEW.account_id;
    IF cutoff IS NOT NULL AND NEW.billed_until IS DISTINCT FROM cutoff THEN
        RAISE EXCEPTION 'account % is invoiced up to %: a balance row cut off at % would '
            'reopen its invoiced windows (INSERT refused)', NEW.account_id, cutoff,
            coalesce(NEW.billed_until::text, 'nothing')
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_balance_never_deleted
    BEFORE DELETE ON ledger_balance
    FOR EACH ROW EXECUTE FUNCTION ledger_balance_kept();
CREATE TRIGGER ledger_balance_account_fixed
    BEFORE UPDATE OF account_id ON ledger_balance
    FOR EACH ROW
    WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION ledger_balance_kept();
CREATE TRIGGER ledger_balance_before_books
    BEFORE INSERT ON ledger_balance
    FOR EACH ROW EXECUTE FUNCTION ledger_balance_kept();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS ledger_balance_before_books ON ledger_balance;
DROP TRIGGER IF EXISTS ledger_balance_account_fixed ON ledger_balance;
DROP TRIGGER IF EXISTS ledger_balance_never_deleted ON ledger_balance;
DROP FUNCTION IF EXISTS ledger_balance_kept();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_leaner_indexes")]

    operations = [migrations.RunPython(run(POSTGRES_UP), run(POSTGRES_DOWN))]
