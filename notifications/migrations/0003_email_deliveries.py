"""E-mails become deliveries like webhooks: a state, attempts, a next attempt and the
last error; both kinds of delivery keep their state in a protected state field."""

import django.db.models.deletion
import django.utils.timezone
import django_fsm
from django.conf import settings
from django.db import migrations, models

DELIVERY_STATUSES = [
    ("pending", "Pending"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed (gave up)"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_beat_and_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="emailnotification",
            options={
                "ordering": ["-id"],
                "verbose_name": "email delivery",
                "verbose_name_plural": "email deliveries",
            },
        ),
        migrations.RenameField(
            model_name="emailnotification", old_name="error", new_name="last_error"
        ),
        migrations.AlterField(
            model_name="emailnotification",
            name="subject",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AlterField(
            model_name="emailnotification",
            name="to",
            field=models.EmailField(
                help_text="The client's billing address when the event happened.",
                max_length=254,
            ),
        ),
        migrations.AddField(
            model_name="emailnotification",
            name="status",
            field=django_fsm.FSMField(
                choices=DELIVERY_STATUSES, default="pending", max_length=20, protected=True
            ),
        ),
        migrations.AddField(
            model_name="emailnotification",
            name="attempt_count",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="emailnotification",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="emailnotification",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="status",
            field=django_fsm.FSMField(
                choices=DELIVERY_STATUSES, default="pending", max_length=20, protected=True
            ),
        ),
        migrations.AddIndex(
            model_name="emailnotification",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["next_attempt_at"],
                name="email_pending_due",
            ),
        ),
        migrations.CreateModel(
            name="EmailAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("attempted_at", models.DateTimeField(auto_now_add=True)),
                ("error", models.CharField(blank=True, max_length=500)),
                ("duration_ms", models.PositiveIntegerField(default=0)),
                (
                    "email",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempts",
                        to="notifications.emailnotification",
                    ),
                ),
                (
                    "resent_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["attempted_at", "id"]},
        ),
    ]
