"""Billing staff read the queue and the settings; managers also decide and change them."""

from django.db import migrations

from billing_site.permissions import grant

READ = [
    ("approvals", "view_systemsettings"),
    ("approvals", "view_settingschange"),
    ("approvals", "view_manualoperation"),
    ("approvals", "view_pendingmanualoperation"),
]
DECIDE = [
    ("approvals", "decide_manualoperation"),
    ("approvals", "change_systemsettings"),
    # the FSM buttons show only to users who may change the operation
    ("approvals", "change_manualoperation"),
    ("approvals", "change_pendingmanualoperation"),
]


def forwards(apps, schema_editor):
    grant(apps, {"Billing staff": READ, "Managers": READ + DECIDE})


class Migration(migrations.Migration):
    dependencies = [("approvals", "0002_decisions_are_final"), ("accounts", "0002_staff_groups")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
