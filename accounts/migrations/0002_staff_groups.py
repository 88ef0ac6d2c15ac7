"""The two staff roles of docs/design.md §6 as groups, with the permissions each role needs.

Permissions are normally created after all migrations run; they are created here first
so that a fresh database gets complete groups in one `migrate`. Later apps add their
own permissions to these groups in their own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

BILLING_STAFF = [
    ("accounts", "view_client"),
    ("accounts", "add_client"),
    ("accounts", "change_client"),
    ("accounts", "view_clientuser"),
    ("accounts", "add_clientuser"),
    ("accounts", "view_billingaccount"),
    ("accounts", "change_billingaccount"),
    ("accounts", "convert_payment_mode"),
    ("accounts", "view_paymentmodechange"),
    ("accounts", "view_accountstatechange"),
    ("ledger", "view_entry"),
    ("ledger", "post_charge"),
    ("ledger", "receive_payment"),
    ("ledger", "view_balance"),
    ("ledger", "view_reservation"),
    ("ledger", "add_reservation"),
    ("ledger", "change_reservation"),
]
GROUPS = {"Billing staff": BILLING_STAFF, "Managers": BILLING_STAFF}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codes:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("ledger", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
