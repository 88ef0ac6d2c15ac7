"""Billing staff read invoices and issue them by hand; managers also approve and void."""

from django.db import migrations

from billing_site.permissions import grant

READ = [
    ("invoicing", "view_invoice"),
    ("invoicing", "view_invoiceline"),
    ("invoicing", "view_invoicestatuschange"),
    ("invoicing", "view_payment"),
    ("invoicing", "view_paymentallocation"),
    ("invoicing", "issue_invoice"),
]
DECIDE = [
    ("invoicing", "approve_invoice"),
    ("invoicing", "cancel_invoice"),
    # the FSM buttons show only to users who may change the invoice
    ("invoicing", "change_invoice"),
]


def forwards(apps, schema_editor):
    grant(apps, {"Billing staff": READ, "Managers": READ + DECIDE})


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0001_initial"), ("accounts", "0002_staff_groups")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
