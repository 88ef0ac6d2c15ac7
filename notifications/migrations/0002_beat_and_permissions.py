"""Beat retries due webhook deliveries every minute; staff roles see the outbox.

Billing staff read events, deliveries and emails; managers also manage webhook
endpoints and resend deliveries.
"""

from django.db import migrations

from billing_site.permissions import grant

TASK_NAME = "Retry due webhook deliveries"
READ = [
    ("notifications", "view_event"),
    ("notifications", "view_webhookendpoint"),
    ("notifications", "view_webhookdelivery"),
    ("notifications", "view_deliveryattempt"),
    ("notifications", "view_emailnotification"),
]
MANAGE = [
    ("notifications", "add_webhookendpoint"),
    ("notifications", "change_webhookendpoint"),
    ("notifications", "change_webhookdelivery"),
]


def forwards(apps, schema_editor):
    grant(apps, {"Billing staff": READ, "Managers": READ + MANAGE})
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "notifications.retry_due_deliveries", "interval": every_minute},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("accounts", "0002_staff_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
