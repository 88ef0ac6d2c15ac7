"""The billing calendar's record in the admin: read-only, written only by its runs."""

from django.contrib import admin

from accounts.admin.display import badge

from .admin_readonly import ReadOnlyModelAdmin
from .cycle import STEP_NAMES
from .models import CalendarStep, StepStatus

STATUS_TONES = {
    StepStatus.COMPLETED: "ok",
    StepStatus.FAILED: "bad",
    StepStatus.DISPATCHED: "warn",
    StepStatus.RUNNING: "warn",
}


@admin.register(CalendarStep)
class CalendarStepAdmin(ReadOnlyModelAdmin):
    list_display = (
        "run_date",
        "step_name",
        "state",
        "count",
        "completed_at",
        "attempts",
        "started_at",
        "chunks_out",
        "short_error",
    )
    list_filter = ("status", "step")
    date_hierarchy = "run_date"
    ordering = ("-run_date", "id")
    readonly_fields = (
        "run_date",
        "step_name",
        "state",
        "count",
        "attempts",
        "started_at",
        "completed_at",
        "dispatch_round",
        "chunks_out",
        "error",
    )
    fields = readonly_fields

    @admin.display(description="step", ordering="step")
    def step_name(self, obj):
        return STEP_NAMES.get(obj.step, obj.step)

    @admin.display(description="status", ordering="status")
    def state(self, obj):
        return badge(obj.get_status_display(), STATUS_TONES.get(obj.status, "muted"))

    @admin.display(description="chunks out")
    def chunks_out(self, obj):
        return len(obj.chunks_pending) if obj.status == StepStatus.DISPATCHED else "—"

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120] or "—"
