"""A blocked credit keeps the reason of its block on the account, for the client's eyes.

Accounts blocked before take the reason of their last block from the credit-status
history; where the history gives none, a reason saying who blocked it.
"""

from django.db import migrations, models

STAFF_BLOCK = "Blocked by the billing team."
OVERDUE_BLOCK = "An invoice is overdue."


def record_block_reasons(apps, schema_editor):
    BillingAccount = apps.get_model("accounts", "BillingAccount")
    AccountStateChange = apps.get_model("accounts", "AccountStateChange")
    for account in BillingAccount.objects.filter(credit_status="blocked"):
        block = (
            AccountStateChange.objects.filter(
                account=account, field="credit_status", to_state="blocked"
            )
            .order_by("-changed_at", "-id")
            .first()
        )
        reason = (block.reason if block else "").strip()
        if not reason:
            reason = OVERDUE_BLOCK if account.credit_blocked_by_overdue else STAFF_BLOCK
        account.credit_block_reason = reason
        account.save(update_fields=["credit_block_reason"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_credit_limit_check_refuses_null"),
    ]

    operations = [
        migrations.AddField(
            model_name="billingaccount",
            name="credit_block_reason",
            field=models.TextField(
                blank=True,
                editable=False,
                help_text="Why the credit is blocked, as recorded by the block: what staff "
                "typed, or the overdue invoice the overdue rule blocked it for. The client is "
                "told this.",
            ),
        ),
        migrations.RunPython(record_block_reasons, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="billingaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("credit_status", "blocked"),
                        models.Q(("credit_block_reason", ""), _negated=True),
                    ),
                    models.Q(
                        models.Q(("credit_status", "blocked"), _negated=True),
                        ("credit_block_reason", ""),
                    ),
                    _connector="OR",
                ),
                name="account_credit_block_reason_iff_blocked",
            ),
        ),
    ]
