"""The database keeps every delivery's status known, and a pending delivery findable by
the sweepers (it always has the time of its next attempt)."""

from django.db import migrations, models


def _constraints(model_name: str, prefix: str) -> list:
    return [
        migrations.AddConstraint(
            model_name=model_name,
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["pending", "succeeded", "failed"])),
                name=f"{prefix}_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name=model_name,
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "pending"), _negated=True),
                    ("next_attempt_at__isnull", False),
                    _connector="OR",
                ),
                name=f"{prefix}_pending_has_next_attempt",
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [("notifications", "0004_email_backlog_and_beat")]

    operations = [
        *_constraints("webhookdelivery", "webhook_delivery"),
        *_constraints("emailnotification", "email"),
    ]
