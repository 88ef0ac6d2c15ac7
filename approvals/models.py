"""Manual operations and system settings (docs/design.md §5).

A manual operation waits in the managers' queue until one of them approves or declines
it. A decision is final: the services refuse to decide twice, and database triggers
(migration 0002) refuse any later UPDATE or DELETE of a decided operation and any change
of an account's postpaid permission once it is approved or declined.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition
from solo.models import SingletonModel

from accounts.models import DEFAULT_PAYMENT_TERM_DAYS, BillingAccount

MAX_PAYMENT_TERM_DAYS = 365
MAX_DUE_REMINDER_DAYS = 60
DEFAULT_DUE_REMINDER_DAYS = 3
MAX_COMMENT_LENGTH = 2000


class PostpaidPermissionMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatically"
    MANUAL = "manual", "Manually"


class SystemSettings(SingletonModel):
    """The one row of system-wide settings; written only by `settings_update`."""

    postpaid_permission_mode = models.CharField(
        "allow an account to order a postpaid subscription",
        max_length=20,
        choices=PostpaidPermissionMode.choices,
        default=PostpaidPermissionMode.AUTOMATIC,
        help_text="Manually: an account's first commercial postpaid order waits in the "
        "manual operations queue until a manager approves the account.",
    )
    external_invoicing = models.BooleanField(
        "external system generates invoices",
        default=False,
        help_text="An ERP approves invoices and sets their due dates through the API.",
    )
    default_payment_term_days = models.PositiveSmallIntegerField(
        "default payment term (days)",
        default=DEFAULT_PAYMENT_TERM_DAYS,
        help_text=f"Days from issue to due date for new credit-limit accounts "
        f"(0 to {MAX_PAYMENT_TERM_DAYS}).",
    )
    due_reminder_days = models.PositiveSmallIntegerField(
        "due date reminder (days before)",
        default=DEFAULT_DUE_REMINDER_DAYS,
        help_text=f"How many days before the due date the client is reminded "
        f"(0 to {MAX_DUE_REMINDER_DAYS}).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "System settings"
        verbose_name_plural = "System settings"
        constraints = [
            models.CheckConstraint(
                name="settings_postpaid_mode_valid",
                condition=Q(postpaid_permission_mode__in=PostpaidPermissionMode.values),
            ),
            models.CheckConstraint(
                name="settings_payment_term_in_range",
                condition=Q(
                    default_payment_term_days__gte=0,
                    default_payment_term_days__lte=MAX_PAYMENT_TERM_DAYS,
                ),
            ),
            models.CheckConstraint(
                name="settings_due_reminder_in_range",
                condition=Q(due_reminder_days__gte=0, due_reminder_days__lte=MAX_DUE_REMINDER_DAYS),
            ),
        ]

    def __str__(self):
        return "System settings"


class SettingsChange(models.Model):
    """Who changed which system setting from what to what, and when."""

    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    field = models.CharField(max_length=40)
    from_value = models.CharField(max_length=100)
    to_value = models.CharField(max_length=100)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = "settings change"

    def __str__(self):
        return f"{self.field}: {self.from_value} → {self.to_value}"


class OperationKind(models.TextChoices):
    ALLOW_POSTPAID = (
        "allow_postpaid_subscriptions",
        "Allow the account to have postpaid subscriptions",
    )


class OperationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"


DECIDED = [OperationStatus.APPROVED, OperationStatus.DECLINED]
DECIDE_PERMISSION = "approvals.decide_manualoperation"


class ManualOperation(models.Model):
    """A request that waits for a manager's decision, and the decision once made.

    Users who requested or decided are PROTECTed: the record of who did it outlives
    them (deactivate a login instead of deleting it).
    """

    kind = models.CharField(max_length=40, choices=OperationKind.choices)
    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="manual_operations"
    )
    status = FSMField(
        max_length=20,
        choices=OperationStatus.choices,
        default=OperationStatus.PENDING,
        protected=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who placed the order that needs the decision (empty: the system).",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "manual operation"
        verbose_name_plural = "Manual operations history"
        permissions = [("decide_manualoperation", "Can approve or decline manual operations")]
        constraints = [
            models.CheckConstraint(
                name="manual_operation_decided_exactly_when_not_pending",
                condition=Q(status=OperationStatus.PENDING, decided_at__isnull=True)
                | Q(status__in=DECIDED, decided_at__isnull=False),
            ),
            models.CheckConstraint(
                name="manual_operation_kind_valid",
                condition=Q(kind__in=OperationKind.values),
            ),
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=Q(status=OperationStatus.PENDING),
                name="one_pending_manual_operation_per_account_and_kind",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status=OperationStatus.PENDING),
                name="manual_operation_queue_idx",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()}"

    # The services lock the operation and the account's books before calling these.
    @transition(
        field=status,
        source=OperationStatus.PENDING,
        target=OperationStatus.APPROVED,
        permission=DECIDE_PERMISSION,
        custom={
            "label": "Approve",
            "form": "approvals.admin.forms.ApproveForm",
            "help_text": "Approve: the account may have postpaid subscriptions for good "
            "and its waiting orders are provisioned now. This cannot be undone.",
        },
    )
    def approve(self, *, comment: str, by, when):
        self._decide(comment=comment, by=by, when=when)

    @transition(
        field=status,
        source=OperationStatus.PENDING,
        target=OperationStatus.DECLINED,
        permission=DECIDE_PERMISSION,
        custom={
            "label": "Decline",
            "form": "approvals.admin.forms.DeclineForm",
            "help_text": "Decline: the account can never order postpaid subscriptions and "
            "its waiting orders are cancelled; the client is only ever told the account "
            "is under review. This cannot be undone.",
        },
    )
    def decline(self, *, comment: str, by, when):
        self._decide(comment=comment, by=by, when=when)

    def _decide(self, *, comment, by, when):
        self.comment = comment
        self.decided_by = by
        self.decided_at = when


class PendingManualOperation(ManualOperation):
    """The managers' queue: the same rows, shown only while pending, oldest first."""

    class Meta:
        proxy = True
        ordering = ["created_at", "id"]
        verbose_name = "pending manual operation"
        verbose_name_plural = "Manual operations queue"
