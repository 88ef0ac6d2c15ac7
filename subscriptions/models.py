"""Plans, subscriptions, upsells and payment requests (docs/design.md §3).

Periods are calendar months. A subscription's `paid_until` is the last day already
charged: for a prepay plan the end of the month paid in advance, for a postpay plan the
last day billed in arrears. Prices are snapshotted per period (`plan_price`,
`period_price`, `SubscriptionAddOn.price`), so a catalogue price change applies from
the next period and a postpay month is billed at the prices in force when it began.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from accounts.models import BillingAccount
from billing_site.money import LEDGER_PLACES, MAX_DIGITS
from ledger.models import Entry


def _amount_field(**kwargs):
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=LEDGER_PLACES, **kwargs)


class Charging(models.TextChoices):
    PREPAY = "prepay", "Prepay (each month charged at its start)"
    POSTPAY = "postpay", "Postpay (each month charged in arrears)"


class AddOn(models.Model):
    """An extra sold on top of a plan for a monthly price (more storage, a static IP)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    price = _amount_field(help_text="Monthly price; a change applies from the next period.")
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text="ISO 4217; empty: priced in the account's own currency.",
    )
    active = models.BooleanField(default=True, help_text="Inactive add-ons are not sold.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "add-on"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(name="addon_price_nonnegative", condition=Q(price__gte=0)),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    def sold_in(self, currency: str) -> bool:
        return not self.currency or self.currency == currency


class Plan(models.Model):
    """A tariff: a monthly price, how it is charged, an optional trial and add-ons."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    price = _amount_field(help_text="Monthly price; a change applies from the next period.")
    currency = models.CharField(
        max_length=3,
        help_text="ISO 4217: the price is in it, and only accounts keeping their books in it "
        "order the plan.",
    )
    charging = models.CharField(max_length=10, choices=Charging.choices, default=Charging.PREPAY)
    trial_days = models.PositiveSmallIntegerField(
        default=0, help_text="Free days before the first charge; 0 = no trial."
    )
    active = models.BooleanField(default=True, help_text="Inactive plans are not sold.")
    add_ons = models.ManyToManyField(AddOn, blank=True, related_name="plans")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(name="plan_price_nonnegative", condition=Q(price__gte=0)),
            models.CheckConstraint(
                name="plan_charging_valid", condition=Q(charging__in=Charging.values)
            ),
            # A price means nothing without its currency: three capitals, never empty.
            models.CheckConstraint(
                name="plan_currency_iso_code", condition=Q(currency__regex=r"^[A-Z]{3}$")
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_postpay(self) -> bool:
        return self.charging == Charging.POSTPAY

    def sold_in(self, currency: str) -> bool:
        return self.currency == currency


class SubscriptionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CANCELLED = "cancelled", "Cancelled"


class SuspensionReason(models.TextChoices):
    NON_PAYMENT = "non_payment", "Not paid"
    STAFF = "staff", "Suspended by staff"
    NOT_ALLOWED = "not_allowed", "Postpaid subscriptions not allowed"


MANAGE_PERMISSION = "subscriptions.change_subscription"
CONFIRM_PERMISSION = "subscriptions.confirm_paymentrequest"


class Subscription(models.Model):
    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="subscriptions"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    plan_price = _amount_field(help_text="Monthly price of `plan` in the current period.")
    period_plan = models.ForeignKey(
        Plan,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The plan in force when the current period began; arrears bill it.",
    )
    period_price = _amount_field(help_text="Monthly price of `period_plan` for arrears.")
    status = FSMField(
        max_length=20,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.PENDING_APPROVAL,
        protected=True,
    )
    is_trial = models.BooleanField(default=False)
    trial_ends_on = models.DateField(
        null=True, blank=True, help_text="The first day after the free trial."
    )
    paid_until = models.DateField(
        null=True,
        blank=True,
        help_text="Prepay: the last day paid. Postpay: the last day billed in arrears.",
    )
    service_ended_on = models.DateField(
        null=True,
        blank=True,
        help_text="Last day of service before a suspension or cancellation; postpay "
        "arrears are billed up to it.",
    )
    suspension_reason = models.CharField(
        max_length=20, choices=SuspensionReason.choices, blank=True
    )
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="subscription_status_valid", condition=Q(status__in=SubscriptionStatus.values)
            ),
            models.CheckConstraint(
                name="subscription_trial_has_end",
                condition=Q(is_trial=False) | Q(trial_ends_on__isnull=False),
            ),
            models.CheckConstraint(
                name="subscription_prices_nonnegative",
                condition=Q(plan_price__gte=0, period_price__gte=0),
            ),
            models.CheckConstraint(
                name="subscription_suspension_has_reason",
                condition=~Q(status=SubscriptionStatus.SUSPENDED) | ~Q(suspension_reason=""),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "paid_until"]),
            models.Index(fields=["account", "status"]),
        ]

    def __str__(self):
        return f"#{self.pk} {self.plan.name}"

    # The services lock the account's books, call these, save and log; the admin
    # buttons (suspend, resume, cancel) are routed to those services.
    @transition(
        field=status,
        source=SubscriptionStatus.PENDING_APPROVAL,
        target=SubscriptionStatus.ACTIVE,
        custom={"admin": False},
    )
    def activate(self, *, when):
        self.activated_at = self.activated_at or when

    @transition(
        field=status,
        source=SubscriptionStatus.ACTIVE,
        target=SubscriptionStatus.PENDING_APPROVAL,
        conditions=[lambda s: s.is_trial],
        custom={"admin": False},
    )
    def await_approval(self):
        """A trial ended and its commercial period waits for a manager (docs/design.md §5)."""
        self.is_trial = False

    @transition(
        field=status,
        source=SubscriptionStatus.ACTIVE,
        target=SubscriptionStatus.SUSPENDED,
        permission=MANAGE_PERMISSION,
        custom={"label": "Suspend", "form": "subscriptions.admin.forms.ReasonForm"},
    )
    def suspend(self, *, reason_code, service_ended_on, when):
        self.suspension_reason = reason_code
        self.service_ended_on = service_ended_on
        self.suspended_at = when

    @transition(
        field=status,
        source=SubscriptionStatus.SUSPENDED,
        target=SubscriptionStatus.ACTIVE,
        permission=MANAGE_PERMISSION,
        custom={"label": "Resume", "form": "subscriptions.admin.forms.ReasonForm"},
    )
    def resume(self):
        self.suspension_reason = ""
        self.service_ended_on = None

    @transition(
        field=status,
        source=[
            SubscriptionStatus.PENDING_APPROVAL,
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.SUSPENDED,
        ],
        target=SubscriptionStatus.CANCELLED,
        permission=MANAGE_PERMISSION,
        custom={"label": "Cancel", "form": "subscriptions.admin.forms.ReasonForm"},
    )
    def cancel(self, *, service_ended_on, when):
        self.service_ended_on = service_ended_on
        self.cancelled_at = when


class SubscriptionStatusChange(models.Model):
    """Every move of a subscription's status: who, from, to, when and why."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.from_status or '—'} → {self.to_status}"


class SubscriptionAddOn(models.Model):
    """An add-on bought for a subscription (through an upsell)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="add_ons")
    add_on = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="+")
    price = _amount_field(help_text="Monthly price in the current period.")
    billed_from = models.DateField(
        help_text="First day covered by the regular monthly charge (the upsell paid the "
        "days before it)."
    )
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "subscription add-on"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "add_on"], name="subscription_addon_once"
            ),
            models.CheckConstraint(
                name="subscription_addon_price_nonnegative", condition=Q(price__gte=0)
            ),
        ]

    def __str__(self):
        return str(self.add_on)


class PaymentPurpose(models.TextChoices):
    RENEWAL = "renewal", "Renewal (prepaid invoice)"
    UPSELL = "upsell", "Upsell"
    INVOICE = "invoice", "Invoice"
    TOP_UP = "top_up", "Balance top-up"


class PaymentRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the money"
    SUCCEEDED = "succeeded", "Money received"
    CANCELLED = "cancelled", "Cancelled"


class PaymentRequest(models.Model):
    """Money asked for through a payment gateway; its purpose is fulfilled when it arrives."""

    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="payment_requests"
    )
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_requests",
        help_text="Renewal and upsell: the subscription paid for.",
    )
    invoice = models.ForeignKey(
        "invoicing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_requests",
        help_text="Invoice: the invoice paid (first) with the money.",
    )
    purpose = models.CharField(max_length=20, choices=PaymentPurpose.choices)
    gateway = models.CharField(max_length=30)
    amount = _amount_field()
    currency = models.CharField(max_length=3)
    status = FSMField(
        max_length=20,
        choices=PaymentRequestStatus.choices,
        default=PaymentRequestStatus.PENDING,
        protected=True,
    )
    reference = models.CharField(
        max_length=40, blank=True, help_text="What the client quotes with the payment."
    )
    instructions = models.TextField(blank=True)
    period_start = models.DateField(
        null=True, blank=True, help_text="Renewal: the first day of the month asked for."
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    payment_entry = models.OneToOneField(
        Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(blank=True, help_text="What was done when it was settled.")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("confirm_paymentrequest", "Can confirm money received for payment requests"),
        ]
        constraints = [
            models.CheckConstraint(
                name="payment_request_amount_positive", condition=Q(amount__gt=0)
            ),
            models.CheckConstraint(
                name="payment_request_status_valid",
                condition=Q(status__in=PaymentRequestStatus.values),
            ),
            models.CheckConstraint(
                name="payment_request_purpose_valid",
                condition=Q(purpose__in=PaymentPurpose.values),
            ),
            # What each purpose pays for is there, and nothing else.
            models.CheckConstraint(
                name="payment_request_purpose_target",
                condition=(
                    Q(
                        purpose__in=[PaymentPurpose.RENEWAL, PaymentPurpose.UPSELL],
                        subscription__isnull=False,
                        invoice__isnull=True,
                    )
                    | Q(
                        purpose=PaymentPurpose.INVOICE,
                        subscription__isnull=True,
                        invoice__isnull=False,
                    )
                    | Q(
                        purpose=PaymentPurpose.TOP_UP,
                        subscription__isnull=True,
                        invoice__isnull=True,
                    )
                ),
            ),
        ]
        indexes = [models.Index(fields=["status", "gateway"])]

    def __str__(self):
        return self.reference or f"Payment request #{self.pk}"

    @property
    def confirmed_by_staff(self) -> bool:
        from .gateways import KNOWN

        gateway = KNOWN.get(self.gateway)
        return gateway is not None and gateway.confirmed_by_staff

    @transition(
        field=status,
        source=PaymentRequestStatus.PENDING,
        target=PaymentRequestStatus.SUCCEEDED,
        custom={"admin": False},
    )
    def succeed(self, *, by=None, when=None):
        """The money arrived (reported by the gateway, or confirmed by staff)."""
        self.confirmed_by = by
        self.completed_at = when

    @transition(
        field=status,
        source=PaymentRequestStatus.PENDING,
        target=PaymentRequestStatus.SUCCEEDED,
        permission=CONFIRM_PERMISSION,
        conditions=[lambda r: r.confirmed_by_staff],
        custom={"label": "Confirm money received"},
    )
    def confirm(self, *, by=None, when=None):
        """The admin's button for bank transfers; routed to `payment_request_confirm`."""
        self.confirmed_by = by
        self.completed_at = when

    @transition(
        field=status,
        source=PaymentRequestStatus.PENDING,
        target=PaymentRequestStatus.CANCELLED,
        permission=CONFIRM_PERMISSION,
        custom={"label": "Cancel request", "form": "subscriptions.admin.forms.ReasonForm"},
    )
    def cancel(self, *, reason="", when=None):
        self.outcome = reason
        self.completed_at = when


class UpsellKind(models.TextChoices):
    PLAN = "plan", "Plan change"
    ADD_ON = "add_on", "Add-on"


class PayWith(models.TextChoices):
    BALANCE = "balance", "Charge to the balance"
    GATEWAY = "gateway", "Pay through a gateway"


class UpsellStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Waiting for payment"
    APPLIED = "applied", "Applied"
    CANCELLED = "cancelled", "Cancelled"


class Upsell(models.Model):
    """A plan change or an add-on, charged prorated for the rest of the month."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="upsells")
    kind = models.CharField(max_length=10, choices=UpsellKind.choices)
    from_plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    add_on = models.ForeignKey(
        AddOn, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = _amount_field(help_text="Quoted when ordered: the prorated difference.")
    charged = _amount_field(null=True, blank=True, help_text="Charged when applied.")
    pay_with = models.CharField(max_length=10, choices=PayWith.choices)
    payment_request = models.OneToOneField(
        PaymentRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="upsell"
    )
    entry = models.OneToOneField(
        Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = FSMField(
        max_length=20,
        choices=UpsellStatus.choices,
        default=UpsellStatus.PENDING_PAYMENT,
        protected=True,
    )
    note = models.TextField(blank=True)
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="upsell_names_its_change",
                condition=Q(kind=UpsellKind.PLAN, to_plan__isnull=False, add_on__isnull=True)
                | Q(kind=UpsellKind.ADD_ON, add_on__isnull=False, to_plan__isnull=True),
            ),
            models.CheckConstraint(name="upsell_amount_nonnegative", condition=Q(amount__gte=0)),
            models.CheckConstraint(
                name="upsell_status_valid", condition=Q(status__in=UpsellStatus.values)
            ),
        ]

    def __str__(self):
        target = self.to_plan if self.kind == UpsellKind.PLAN else self.add_on
        return f"{self.get_kind_display()}: {target}"

    @transition(field=status, source=UpsellStatus.PENDING_PAYMENT, target=UpsellStatus.APPLIED)
    def apply(self, *, charged, entry, when):
        self.charged = charged
        self.entry = entry
        self.applied_at = when

    @transition(field=status, source=UpsellStatus.PENDING_PAYMENT, target=UpsellStatus.CANCELLED)
    def cancel(self, *, note):
        self.note = note
