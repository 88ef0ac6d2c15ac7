"""A decision is final in the database itself, not only in the services.

- A manual operation that is approved or declined can be neither updated nor deleted.
- An account whose postpaid permission is approved or declined keeps it: an UPDATE that
  changes it is refused (other columns of the account still change freely).

A shell session, a raw query or a future bug meets the same refusal as the API.
"""

from django.db import migrations

POSTGRES_UP = [
    """
CREATE OR REPLACE FUNCTION approvals_decided_operation_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decision final: manual operation % is %, % refused', OLD.id, OLD.status, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
""",
    """
CREATE TRIGGER approvals_decided_operation_no_update
    BEFORE UPDATE ON approvals_manualoperation
    FOR EACH ROW WHEN (OLD.status IN ('approved', 'declined'))
    EXECUTE FUNCTION approvals_decided_operation_is_final();
""",
    """
CREATE TRIGGER approvals_decided_operation_no_delete
    BEFORE DELETE ON approvals_manualoperation
    FOR EACH ROW WHEN (OLD.status IN ('approved', 'declined'))
    EXECUTE FUNCTION approvals_decided_operation_is_final();
""",
    """
CREATE OR REPLACE FUNCTION approvals_postpaid_permission_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decision final: the postpaid permission of account % is %, it cannot become %',
        OLD.id, OLD.postpaid_permission, NEW.postpaid_permission
        USING ERRCODE = 'restrict_violation';
END
$$;
""",
    """
CREATE TRIGGER approvals_postpaid_permission_final
    BEFORE UPDATE OF postpaid_permission ON accounts_billingaccount
    FOR EACH ROW WHEN (
        OLD.postpaid_permission IN ('approved', 'declined')
        AND NEW.postpaid_permission IS DISTINCT FROM OLD.postpaid_permission
    )
    EXECUTE FUNCTION approvals_postpaid_permission_is_final();
""",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS approvals_postpaid_permission_final ON accounts_billingaccount;",
    "DROP FUNCTION IF EXISTS approvals_postpaid_permission_is_final();",
    "DROP TRIGGER IF EXISTS approvals_decided_operation_no_delete ON approvals_manualoperation;",
    "DROP TRIGGER IF EXISTS approvals_decided_operation_no_update ON approvals_manualoperation;",
    "DROP FUNCTION IF EXISTS approvals_decided_operation_is_final();",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            raise RuntimeError(
                "The decision-final triggers are PL/pgSQL: the product runs on PostgreSQL."
            )
        for sql in statements:
            schema_editor.execute(sql, params=None)  # the PL/pgSQL uses % itself

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
        ("accounts", "0004_credit_limit_check_refuses_null"),
    ]

    operations = [
        migrations.RunPython(
            _run(POSTGRES_UP),
            _run(POSTGRES_DOWN),
        )
    ]
