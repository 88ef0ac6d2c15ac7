"""External ERP invoicing: payments get a due date from the ERP, an external total and a
receipt; payment status changes are logged; managers may approve or cancel payments."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from billing_site.permissions import grant


def forwards(apps, schema_editor):
    history = [("invoicing", "view_paymentstatuschange")]
    grant(
        apps,
        {
            "Billing staff": history,
            "Managers": [*history, ("invoicing", "approve_payment")],
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0002_staff_permissions"),
        ("accounts", "0002_staff_groups"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PaymentStatusChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("from_status", models.CharField(blank=True, max_length=30)),
                ("to_status", models.CharField(max_length=30)),
                ("changed_at", models.DateTimeField(auto_now_add=True)),
                ("reason", models.CharField(blank=True, max_length=300)),
            ],
            options={
                "ordering": ["changed_at", "id"],
            },
        ),
        migrations.AlterModelOptions(
            name="payment",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("approve_payment", "Can approve or cancel payments")],
            },
        ),
        migrations.AddField(
            model_name="invoice",
            name="erp_managed",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Issued while an external system generated invoices: the ERP approves it, sets its due date and approves its payment.",
                verbose_name="managed by the external ERP",
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="payment",
            name="external_currency",
            field=models.CharField(blank=True, max_length=3),
        ),
        migrations.AddField(
            model_name="payment",
            name="external_total",
            field=models.DecimalField(
                blank=True,
                decimal_places=6,
                help_text="The total of the ERP's own invoice, when it gave one (with its currency).",
                max_digits=20,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="receipt_file",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The ERP's invoice PDF, under PRIVATE_MEDIA_ROOT (a random name).",
                max_length=100,
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="receipt_uploaded_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="payment",
            name="receipt_url",
            field=models.URLField(
                blank=True, help_text="A link to the ERP's invoice document.", max_length=500
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("external_currency", ""), ("external_total__isnull", True)),
                    models.Q(
                        ("external_total__gt", 0),
                        models.Q(("external_currency", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="payment_external_total_with_currency",
            ),
        ),
        migrations.AddField(
            model_name="paymentstatuschange",
            name="changed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="paymentstatuschange",
            name="payment",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="status_changes",
                to="invoicing.payment",
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
