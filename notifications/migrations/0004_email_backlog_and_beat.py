"""Beat retries due e-mails every minute, as it does webhooks; e-mails that were never
sent get a delivery row; managers may resend e-mails.

Before this, an e-mail was tried once by the task queued after commit: a row that failed
was never tried again, and an event whose task was lost (the broker restarted, or was
down when the event was written) has no row at all. Recent ones (`BACKLOG`) are queued
for the sweeper; older ones are recorded as given up, with the reason, for staff to
resend from the admin if they are still wanted.
"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

from billing_site.permissions import grant

TASK_NAME = "Retry due e-mail deliveries"
BACKLOG = timedelta(days=2)
TOO_OLD = "Not sent: its event is older than e-mail retries; resend it if still wanted."
READ = [("notifications", "view_emailattempt")]
MANAGE = [("notifications", "change_emailnotification")]
CHUNK = 2000


def _state(occurred_at, now):
    if occurred_at >= now - BACKLOG:
        return {"status": "pending", "next_attempt_at": now}
    return {"status": "failed", "next_attempt_at": None, "last_error": TOO_OLD}


def forwards(apps, schema_editor):
    grant(apps, {"Billing staff": READ, "Managers": READ + MANAGE})
    EmailNotification = apps.get_model("notifications", "EmailNotification")
    Event = apps.get_model("notifications", "Event")
    now = timezone.now()

    EmailNotification.objects.exclude(sent_at=None).update(status="succeeded", attempt_count=1)
    for email in EmailNotification.objects.filter(sent_at=None).select_related("event"):
        state = _state(email.event.occurred_at, now)
        state.setdefault("last_error", email.last_error)
        EmailNotification.objects.filter(pk=email.pk).update(
            attempt_count=1 if email.last_error else 0, **state
        )

    missing = (
        Event.objects.filter(account__isnull=False, email__isnull=True)
        .exclude(account__client__email="")
        .values_list("pk", "occurred_at", "account__client__email")
        .order_by("pk")
    )
    rows = []
    for event_id, occurred_at, address in missing.iterator(chunk_size=CHUNK):
        rows.append(EmailNotification(event_id=event_id, to=address, **_state(occurred_at, now)))
        if len(rows) == CHUNK:
            EmailNotification.objects.bulk_create(rows)
            rows = []
    EmailNotification.objects.bulk_create(rows)

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "notifications.retry_due_emails", "interval": every_minute},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_email_deliveries"),
        ("accounts", "0002_staff_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
