"""What the billing calendar completed: one row per (date, step).

The scheduler's own bookkeeping (`last_run_at`, `total_run_count`) says when beat *sent*
the daily task, not whether a worker ran it: a firing lost in a broker outage is recorded
as run. These rows are written by the steps' runs themselves (billing_site/cycle.py), so
they say what was really done, and the catch-up starts from them.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DISPATCHED = "dispatched", "Waiting for its chunks"
    FAILED = "failed", "Failed"
    COMPLETED = "completed", "Completed"


UNFINISHED = [StepStatus.RUNNING, StepStatus.DISPATCHED, StepStatus.FAILED]


class CalendarStep(models.Model):
    """One step of the calendar for one date; completed once, and final from then on
    (a trigger refuses any later UPDATE of a completed row)."""

    run_date = models.DateField("date")
    step = models.CharField(max_length=40)
    status = FSMField(
        max_length=20, choices=StepStatus.choices, default=StepStatus.RUNNING, protected=True
    )
    count = models.PositiveIntegerField(
        default=0, help_text="What the step did: holds expired, invoices issued, …"
    )
    attempts = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(help_text="When the latest attempt started.")
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the latest attempt failed.")
    # The fanned-out monthly run: each dispatch is a round of numbered chunks; the step
    # completes when the last chunk of the current round is done.
    dispatch_round = models.PositiveIntegerField(default=0)
    chunks_pending = ArrayField(models.PositiveIntegerField(), default=list, blank=True)

    class Meta:
        ordering = ["-run_date", "id"]
        verbose_name = "billing calendar step"
        constraints = [
            models.UniqueConstraint(
                fields=["run_date", "step"], name="calendar_step_once_per_date"
            ),
            models.CheckConstraint(
                name="calendar_step_status_valid", condition=Q(status__in=StepStatus.values)
            ),
            models.CheckConstraint(
                name="calendar_step_completed_has_time",
                condition=Q(status=StepStatus.COMPLETED, completed_at__isnull=False)
                | (~Q(status=StepStatus.COMPLETED) & Q(completed_at__isnull=True)),
            ),
        ]

    def __str__(self):
        return f"{self.run_date} {self.step} ({self.status})"

    @transition(field=status, source=UNFINISHED, target=StepStatus.RUNNING)
    def restart(self, *, at):
        self.attempts += 1
        self.started_at, self.error = at, ""

    @transition(field=status, source=StepStatus.RUNNING, target=StepStatus.DISPATCHED)
    def dispatch(self, *, chunks: int):
        self.dispatch_round += 1
        self.chunks_pending = list(range(chunks))

    @transition(field=status, source=UNFINISHED, target=StepStatus.COMPLETED)
    def complete(self, *, at, count: int | None = None):
        self.completed_at, self.error, self.chunks_pending = at, "", []
        if count is not None:
            self.count = count

    @transition(field=status, source=UNFINISHED, target=StepStatus.FAILED)
    def fail(self, *, error: str):
        self.error = error
