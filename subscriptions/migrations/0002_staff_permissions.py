"""Billing staff and managers: read everything, keep the catalogue, order and change
subscriptions for clients, and confirm money received for payment requests."""

from django.db import migrations

from billing_site.permissions import grant

STAFF = [
    ("subscriptions", "view_plan"),
    ("subscriptions", "add_plan"),
    ("subscriptions", "change_plan"),
    ("subscriptions", "view_addon"),
    ("subscriptions", "add_addon"),
    ("subscriptions", "change_addon"),
    ("subscriptions", "view_subscription"),
    ("subscriptions", "add_subscription"),
    # suspend, resume and cancel (the admin's FSM buttons need it to show)
    ("subscriptions", "change_subscription"),
    ("subscriptions", "view_subscriptionaddon"),
    ("subscriptions", "view_subscriptionstatuschange"),
    ("subscriptions", "view_upsell"),
    ("subscriptions", "add_upsell"),
    ("subscriptions", "view_paymentrequest"),
    # the confirm and cancel buttons show only to users who may change the request
    ("subscriptions", "change_paymentrequest"),
    ("subscriptions", "confirm_paymentrequest"),
]


def forwards(apps, schema_editor):
    grant(apps, {"Billing staff": STAFF, "Managers": STAFF})


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0001_initial"), ("accounts", "0002_staff_groups")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
