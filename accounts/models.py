"""Clients, their billing accounts and how each account may spend (docs/design.md §1)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from billing_site.money import LEDGER_PLACES, MAX_DIGITS


class PaymentMode(models.TextChoices):
    PREPAID = "prepaid", "Prepaid"
    POSTPAID = "postpaid", "Postpaid (pay-as-you-go)"
    CREDIT_LIMIT = "credit_limit", "Credit limit"


class CreditLimitScope(models.TextChoices):
    TOTAL_DEBT = "total_debt", "Whole negative balance"
    MONTHLY_UNBILLED = "monthly_unbilled", "This month's unbilled charges"


class CreditStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BLOCKED = "blocked", "Blocked"


class PostpaidPermission(models.TextChoices):
    NOT_REQUESTED = "not_requested", "Not requested"
    UNDER_REVIEW = "under_review", "Under review"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"


DEFAULT_PAYMENT_TERM_DAYS = 14


class Client(models.Model):
    """The customer organisation; portal users and one billing account belong to it."""

    name = models.CharField(max_length=200)
    email = models.EmailField(help_text="Billing address: invoices and reminders go here.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self):
        return self.name


class ClientUser(models.Model):
    """A login that belongs to a client: sees that client's account only (portal, API)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="client_membership"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self):
        return f"{self.user} @ {self.client}"


class BillingAccount(models.Model):
    client = models.OneToOneField(Client, on_delete=models.PROTECT, related_name="account")
    currency = models.CharField(max_length=3, help_text="ISO 4217 code; fixed at creation.")
    payment_mode = models.CharField(
        max_length=20, choices=PaymentMode.choices, default=PaymentMode.PREPAID
    )
    credit_limit = models.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=LEDGER_PLACES,
        null=True,
        blank=True,
        help_text="Only in credit-limit mode: how far below zero the account may go.",
    )
    credit_limit_scope = models.CharField(
        max_length=20, choices=CreditLimitScope.choices, default=CreditLimitScope.TOTAL_DEBT
    )
    payment_term_days = models.PositiveSmallIntegerField(default=DEFAULT_PAYMENT_TERM_DAYS)
    credit_status = FSMField(
        max_length=20, choices=CreditStatus.choices, default=CreditStatus.ACTIVE, protected=True
    )
    postpaid_permission = FSMField(
        max_length=20,
        choices=PostpaidPermission.choices,
        default=PostpaidPermission.NOT_REQUESTED,
        protected=True,
    )
    credit_blocked_by_overdue = models.BooleanField(
        default=False,
        editable=False,
        help_text="Blocked by the overdue rule, so paying the overdue invoices unblocks it.",
    )
    credit_block_reason = models.TextField(
        blank=True,
        editable=False,
        help_text="Why the credit is blocked, as recorded by the block: what staff typed, or "
        "the overdue invoice the overdue rule blocked it for. The client is told this.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client__name", "id"]
        permissions = [
            ("convert_payment_mode", "Can convert an account's payment mode"),
        ]
        constraints = [
            # One field decides the mode, so the two postpaid modes can never both be on;
            # the limit exists exactly when the mode is credit_limit, and is positive.
            models.CheckConstraint(
                name="account_credit_limit_only_in_credit_mode",
                condition=(
                    # isnull=False too: NULL > 0 is unknown, and a CHECK passes on unknown.
                    Q(
                        payment_mode=PaymentMode.CREDIT_LIMIT,
                        credit_limit__isnull=False,
                        credit_limit__gt=0,
                    )
                    | (~Q(payment_mode=PaymentMode.CREDIT_LIMIT) & Q(credit_limit__isnull=True))
                ),
            ),
            models.CheckConstraint(
                name="account_payment_mode_valid",
                condition=Q(payment_mode__in=PaymentMode.values),
            ),
            models.CheckConstraint(
                name="account_credit_status_valid",
                condition=Q(credit_status__in=CreditStatus.values),
            ),
            models.CheckConstraint(
                name="account_credit_limit_scope_valid",
                condition=Q(credit_limit_scope__in=CreditLimitScope.values),
            ),
            # A blocked credit always says why, and an active one has nothing to explain.
            models.CheckConstraint(
                name="account_credit_block_reason_iff_blocked",
                condition=(Q(credit_status=CreditStatus.BLOCKED) & ~Q(credit_block_reason=""))
                | (~Q(credit_status=CreditStatus.BLOCKED) & Q(credit_block_reason="")),
            ),
        ]
        indexes = [
            models.Index(fields=["payment_mode", "credit_status"]),
        ]

    def __str__(self):
        return f"{self.client.name} ({self.currency})"

    @property
    def credit_block_why(self) -> str:
        """The recorded reason of the block as one sentence, for the client's eyes."""
        reason = self.credit_block_reason.strip().rstrip(".").strip()
        return f"{reason}." if reason else "No reason was recorded."

    # Credit status: only credit-limit accounts are ever blocked, and only by the
    # overdue rule or by staff; the services lock the row before calling these.
    @transition(
        field=credit_status,
        source=CreditStatus.ACTIVE,
        target=CreditStatus.BLOCKED,
        conditions=[lambda a: a.payment_mode == PaymentMode.CREDIT_LIMIT],
    )
    def block_credit(self, *, reason: str, by_overdue: bool = False):
        self.credit_blocked_by_overdue = by_overdue
        self.credit_block_reason = reason

    @transition(field=credit_status, source=CreditStatus.BLOCKED, target=CreditStatus.ACTIVE)
    def unblock_credit(self):
        self.credit_blocked_by_overdue = False
        self.credit_block_reason = ""

    @transition(
        field=postpaid_permission,
        source=PostpaidPermission.NOT_REQUESTED,
        target=PostpaidPermission.UNDER_REVIEW,
    )
    def request_postpaid_review(self):
        pass

    @transition(
        field=postpaid_permission,
        source=PostpaidPermission.UNDER_REVIEW,
        target=PostpaidPermission.APPROVED,
    )
    def approve_postpaid(self):
        pass

    @transition(
        field=postpaid_permission,
        source=PostpaidPermission.UNDER_REVIEW,
        target=PostpaidPermission.DECLINED,
    )
    def decline_postpaid(self):
        pass


class PaymentModeChange(models.Model):
    """Who converted an account from which mode to which, when, and why."""

    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="mode_changes"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_mode = models.CharField(max_length=20, choices=PaymentMode.choices)
    to_mode = models.CharField(max_length=20, choices=PaymentMode.choices)
    from_credit_limit = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=LEDGER_PLACES, null=True, blank=True
    )
    to_credit_limit = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=LEDGER_PLACES, null=True, blank=True
    )
    from_scope = models.CharField(max_length=20, choices=CreditLimitScope.choices)
    to_scope = models.CharField(max_length=20, choices=CreditLimitScope.choices)
    balance_at_change = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=LEDGER_PLACES)
    reason = models.TextField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        get_latest_by = "changed_at"

    def __str__(self):
        return f"{self.get_from_mode_display()} → {self.get_to_mode_display()}"


class AccountStateChange(models.Model):
    """Every move of a state field on an account (credit status, postpaid permission)."""

    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="state_changes"
    )
    field = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.field}: {self.from_state} → {self.to_state}"
