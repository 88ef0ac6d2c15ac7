"""A completed calendar step is final, beat runs the catch-up hourly, staff read the rows.

The trigger keeps the calendar's memory honest whatever client writes to it: once a step
is recorded complete for a date, no UPDATE may reopen it, re-date it or change its count.
The watchdog is the same task as the daily firing: it runs every date since the last
completed one, so a firing lost in a broker outage is caught up within the hour.
"""

from django.db import migrations

WATCHDOG = "Billing calendar watchdog"
READ = [("billing_site", "view_calendarstep")]

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION billing_calendar_step_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a completed calendar step is final: % for % was completed at %',
        OLD.step, OLD.run_date, OLD.completed_at
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER billing_calendar_step_final
    BEFORE UPDATE ON billing_site_calendarstep
    FOR EACH ROW WHEN (OLD.status = 'completed')
    EXECUTE FUNCTION billing_calendar_step_final();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS billing_calendar_step_final ON billing_site_calendarstep;
DROP FUNCTION IF EXISTS billing_calendar_step_final();
"""


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            raise RuntimeError(
                "The calendar's trigger is PL/pgSQL: the product runs on PostgreSQL."
            )
        schema_editor.execute(statements, params=None)  # the PL/pgSQL uses % itself

    return apply


def create(apps, schema_editor):
    from django.conf import settings

    from billing_site.permissions import grant

    grant(apps, {"Billing staff": READ, "Managers": READ})
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = CrontabSchedule.objects.get_or_create(
        minute="40",
        hour="*",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(
        name=WATCHDOG,
        defaults={
            "task": "billing.run_billing_cycle",
            "crontab": hourly,
            "description": "Runs every date since the last completed one, in order, and "
            "alerts a day not done by its deadline.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=WATCHDOG).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing_site", "0002_calendar_step"),
        ("accounts", "0002_staff_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(_run(POSTGRES_UP), _run(POSTGRES_DOWN)),
        migrations.RunPython(create, remove),
    ]
