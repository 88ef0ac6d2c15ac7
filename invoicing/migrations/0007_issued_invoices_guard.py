"""Issued invoices are guarded in the database, like ledger entries.

Every invoice is issued when it is written (it has its number from the series), so from
then on, whatever client writes:

- its number, account, kind, currency, period, issue date, billing window and amounts
  (subtotal, rounding, total) never change, and it is never deleted (a mistake is voided
  by cancelling it, which reverses it in the ledger);
- its status moves only along the transitions of `Invoice` (django-fsm): open → closed
  → approved → overdue, closed/approved/overdue → paid (with its total paid), and any
  unpaid state → cancelled (with no money applied); paid and cancelled are final;
- the due date and approval time are set by the approval, the payment time by the move
  to paid; money applied only grows, and only while the invoice is unpaid;
- its lines are written with it, in one statement, adding up to its subtotal, and are
  never updated, deleted or added to later.

The total is also −(subtotal + rounding), a CHECK constraint.
"""

import django.db.models.expressions
from django.db import migrations, models

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION invoicing_invoice_issued() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % is issued: deleting it is refused', OLD.number
            USING ERRCODE = 'restrict_violation',
                  HINT = 'Cancel (void) it instead: the cancellation reverses it in the ledger.';
    END IF;
    changed := array_remove(ARRAY[
        CASE WHEN NEW.id IS DISTINCT FROM OLD.id THEN 'id' END,
        CASE WHEN NEW.number IS DISTINCT FROM OLD.number THEN 'number' END,
        CASE WHEN NEW.account_id IS DISTINCT FROM OLD.account_id THEN 'account' END,
        CASE WHEN NEW.kind IS DISTINCT FROM OLD.kind THEN 'kind' END,
        CASE WHEN NEW.currency IS DISTINCT FROM OLD.currency THEN 'currency' END,
        CASE WHEN NEW.period_start IS DISTINCT FROM OLD.period_start THEN 'period_start' END,
        CASE WHEN NEW.period_end IS DISTINCT FROM OLD.period_end THEN 'period_end' END,
        CASE WHEN NEW.issued_on IS DISTINCT FROM OLD.issued_on THEN 'issued_on' END,
        CASE WHEN NEW.bills_from IS DISTINCT FROM OLD.bills_from THEN 'bills_from' END,
        CASE WHEN NEW.bills_until IS DISTINCT FROM OLD.bills_until THEN 'bills_until' END,
        CASE WHEN NEW.subtotal IS DISTINCT FROM OLD.subtotal THEN 'subtotal' END,
        CASE WHEN NEW.rounding IS DISTINCT FROM OLD.rounding THEN 'rounding' END,
        CASE WHEN NEW.total IS DISTINCT FROM OLD.total THEN 'total' END,
        CASE WHEN NEW.erp_managed IS DISTINCT FROM OLD.erp_managed THEN 'erp_managed' END,
        CASE WHEN NEW.created_at IS DISTINCT FROM OLD.created_at THEN 'created_at' END
    ], NULL);
    IF cardinality(changed) > 0 THEN
        RAISE EXCEPTION 'invoice % is issued: its % cannot change (UPDATE refused)',
            OLD.number, array_to_string(changed, ', ')
            USING ERRCODE = 'restrict_violation',
                  HINT = 'Cancel (void) it and bill again instead.';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'open' AND NEW.status IN ('closed', 'cancelled'))
        OR (OLD.status = 'closed' AND NEW.status IN ('approved', 'paid', 'cancelled'))
        OR (OLD.status = 'approved' AND NEW.status IN ('overdue', 'paid', 'cancelled'))
        OR (OLD.status = 'overdue' AND NEW.status IN ('paid', 'cancelled'))
    ) THEN
        RAISE EXCEPTION 'invoice % cannot move from % to %', OLD.number, OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.amount_paid IS DISTINCT FROM OLD.amount_paid AND (
        NEW.amount_paid < OLD.amount_paid
        OR OLD.status NOT IN ('closed', 'approved', 'overdue')
    ) THEN
        RAISE EXCEPTION 'invoice % is %: money applied to it (% to % refused) only grows, '
            'and only while it is unpaid', OLD.number, OLD.status, OLD.amount_paid,
            NEW.amount_paid
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status = 'paid' AND OLD.status <> 'paid' AND NEW.amount_paid < NEW.total THEN
        RAISE EXCEPTION 'invoice % is not paid: % of % applied', OLD.number,
            NEW.amount_paid, NEW.total
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.amount_paid <> 0 THEN
        RAISE EXCEPTION 'invoice % has money applied (%): it cannot be cancelled', OLD.number,
            NEW.amount_paid
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.due_date, NEW.approved_at) IS DISTINCT FROM (OLD.due_date, OLD.approved_at)
       AND NOT (OLD.status = 'closed' AND NEW.status = 'approved') THEN
        RAISE EXCEPTION 'invoice % is %: its due date and approval are set when it is '
            'approved', OLD.number, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.paid_at IS DISTINCT FROM OLD.paid_at
       AND NOT (NEW.status = 'paid' AND OLD.status <> 'paid') THEN
        RAISE EXCEPTION 'invoice % is %: its payment time is set when it is paid',
            OLD.number, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invoicing_invoice_issued
    BEFORE UPDATE OR DELETE ON invoicing_invoice
    FOR EACH ROW EXECUTE FUNCTION invoicing_invoice_issued();

CREATE OR REPLACE FUNCTION invoicing_line_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice lines are written with their invoice: % of line % refused',
        TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Cancel (void) the invoice and bill again instead.';
END
$$;
CREATE TRIGGER invoicing_line_append_only
    BEFORE UPDATE OR DELETE ON invoicing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION invoicing_line_append_only();

-- Lines arrive with their invoice, every line of an invoice in one statement (the issue
-- writes them with one COPY), adding up to its subtotal: an issued invoice never gets
-- another line.
CREATE OR REPLACE FUNCTION invoicing_lines_complete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT i.number, n.amount, i.subtotal, n.lines,
           (SELECT count(*) FROM invoicing_invoiceline l WHERE l.invoice_id = n.invoice_id)
               AS stored
      INTO bad
      FROM (SELECT invoice_id, count(*) AS lines, sum(amount) AS amount
              FROM new_lines GROUP BY invoice_id) n
      JOIN invoicing_invoice i ON i.id = n.invoice_id
     WHERE n.amount IS DISTINCT FROM i.subtotal
        OR (SELECT count(*) FROM invoicing_invoiceline l WHERE l.invoice_id = n.invoice_id)
           <> n.lines
     LIMIT 1;
    IF FOUND THEN
        IF bad.stored <> bad.lines THEN
            RAISE EXCEPTION 'invoice % is issued with its lines: adding % line(s) is refused',
                bad.number, bad.lines
                USING ERRCODE = 'restrict_violation';
        END IF;
        RAISE EXCEPTION 'the lines of invoice % add up to %, its subtotal is %',
            bad.number, bad.amount, bad.subtotal
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER invoicing_lines_complete
    AFTER INSERT ON invoicing_invoiceline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION invoicing_lines_complete();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS invoicing_lines_complete ON invoicing_invoiceline;
DROP FUNCTION IF EXISTS invoicing_lines_complete();
DROP TRIGGER IF EXISTS invoicing_line_append_only ON invoicing_invoiceline;
DROP FUNCTION IF EXISTS invoicing_line_append_only();
DROP TRIGGER IF EXISTS invoicing_invoice_issued ON invoicing_invoice;
DROP FUNCTION IF EXISTS invoicing_invoice_issued();
"""


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            raise RuntimeError(
                "The invoices' triggers are PL/pgSQL: the product runs on PostgreSQL."
            )
        schema_editor.execute(statements, params=None)  # the PL/pgSQL uses % itself

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_billingaccount_credit_block_reason"),
        ("invoicing", "0006_leaner_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "total",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                models.F("subtotal"), "+", models.F("rounding")
                            ),
                            "*",
                            models.Value(-1),
                        ),
                    )
                ),
                name="invoice_total_is_billed_amount",
            ),
        ),
        migrations.RunPython(_run(POSTGRES_UP), _run(POSTGRES_DOWN)),
    ]
