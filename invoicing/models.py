"""Invoices, their lines, the payments linked to them, and the link to the ledger
(docs/design.md §4).

An invoice bills the account's billable entries whose billing instant (`Entry.bill_at`)
falls in its window [bills_from, bills_until), plus the entries booked for it by name
(`Entry.invoice`: its rounding, a cancellation's reversal). Windows of one account follow
each other without gap or overlap, and an entry's billing instant is fixed when it is
booked, so the entries stay append-only and no row per billed entry is ever written. An
account's `unbilled` figure is its billable entries from its last cut-off on.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition

from accounts.models import BillingAccount
from billing_site.money import LEDGER_PLACES, MAX_DIGITS


def _amount_field(**kwargs):
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=LEDGER_PLACES, **kwargs)


class InvoiceKind(models.TextChoices):
    POSTPAID = "postpaid", "Postpaid (services used)"
    CREDIT = "credit", "Credit limit (amount deducted)"
    STATEMENT = "statement", "Prepaid statement"
    MANUAL = "manual", "Issued by hand"


# Kinds the monthly run issues: at most one of them per account and period.
MONTHLY_KINDS = (InvoiceKind.POSTPAID, InvoiceKind.CREDIT, InvoiceKind.STATEMENT)


class InvoiceStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    APPROVED = "approved", "Approved"
    OVERDUE = "overdue", "Overdue"
    PAID = "paid", "Paid"
    CANCELLED = "cancelled", "Cancelled"


UNPAID_STATUSES = (InvoiceStatus.APPROVED, InvoiceStatus.OVERDUE)


class InvoiceSeries(models.Model):
    """The next invoice number of a year; numbers are taken under this row's lock."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    next_number = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name_plural = "invoice series"

    def __str__(self):
        return f"{self.year}: next {self.next_number}"


class Invoice(models.Model):
    # No index of its own: the (account, …) indexes and constraints below serve it.
    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    number = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=20, choices=InvoiceKind.choices)
    status = FSMField(
        max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.OPEN, protected=True
    )
    currency = models.CharField(max_length=3)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Last day of the period, inclusive.")
    issued_on = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    bills_from = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Start of the billing window: the account's cut-off before this invoice "
        "(empty for its first invoice).",
    )
    bills_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="End of the billing window (exclusive): the account's cut-off after it.",
    )
    subtotal = _amount_field(help_text="Σ of the billed entries before rounding (signed).")
    rounding = _amount_field(default=0, help_text="Booked as a rounding entry.")
    total = _amount_field(help_text="Amount owed, rounded to the currency's minor unit.")
    amount_paid = _amount_field(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    pdf_file = models.CharField(max_length=300, blank=True, editable=False)
    pdf_version = models.CharField(max_length=64, blank=True, editable=False)
    erp_managed = models.BooleanField(
        "managed by the external ERP",
        default=False,
        editable=False,
        help_text="Issued while an external system generated invoices: the ERP approves it, "
        "sets its due date and approves its payment.",
    )

    class Meta:
        ordering = ["-period_start", "-id"]
        permissions = [
            ("approve_invoice", "Can approve invoices"),
            ("cancel_invoice", "Can cancel invoices"),
            ("issue_invoice", "Can issue invoices by hand"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start", "kind"],
                condition=Q(kind__in=MONTHLY_KINDS),
                name="invoice_one_monthly_per_account_period_kind",
            ),
            models.CheckConstraint(
                name="invoice_period_ordered", condition=Q(period_start__lte=models.F("period_end"))
            ),
            models.CheckConstraint(
                name="invoice_window_ordered",
                condition=Q(bills_from__isnull=True)
                | Q(bills_until__isnull=False, bills_from__lt=models.F("bills_until")),
            ),
            # Windows of one account never start twice at the same instant.
            models.UniqueConstraint(
                fields=["account", "bills_from"], name="invoice_window_starts_once"
            ),
            models.CheckConstraint(
                name="invoice_status_valid", condition=Q(status__in=InvoiceStatus.values)
            ),
            models.CheckConstraint(
                name="invoice_kind_valid", condition=Q(kind__in=InvoiceKind.values)
            ),
            # The total is what the billed entries add up to, sign turned: owed > 0.
            models.CheckConstraint(
                name="invoice_total_is_billed_amount",
                condition=Q(total=-(models.F("subtotal") + models.F("rounding"))),
            ),
            models.CheckConstraint(
                name="invoice_paid_within_total",
                condition=Q(amount_paid__gte=0)
                & (Q(total__lte=0, amount_paid=0) | Q(amount_paid__lte=models.F("total"))),
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status", "issued_on"]),
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["period_start"]),
        ]

    def __str__(self):
        return self.number

    @property
    def outstanding(self):
        return max(self.total - self.amount_paid, 0)

    @property
    def payable_from_balance(self) -> bool:
        """False once the ERP billed another total or currency: only other methods pay it.

        Money on the balance is in the platform's currency and amount; an external
        invoice for a different figure is settled outside, then its payment approved.
        """
        try:
            payment = self.payment
        except Payment.DoesNotExist:
            return True
        return not payment.differs_from(self)

    # Transitions marked admin=False are moved only by the calendar or by money; the
    # admin offers approve and cancel, and routes them through the services.
    @transition(
        field=status,
        source=InvoiceStatus.OPEN,
        target=InvoiceStatus.CLOSED,
        custom={"admin": False},
    )
    def close(self):
        pass

    @transition(
        field=status,
        source=InvoiceStatus.CLOSED,
        target=InvoiceStatus.APPROVED,
        permission="invoicing.approve_invoice",
        custom={"label": "Approve", "form": "invoicing.admin.forms.ApproveForm"},
    )
    def approve(self, *, due_date, when):
        self.due_date = due_date
        self.approved_at = when

    @transition(
        field=status,
        source=InvoiceStatus.APPROVED,
        target=InvoiceStatus.OVERDUE,
        custom={"admin": False},
    )
    def mark_overdue(self):
        pass

    @transition(
        field=status,
        source=[InvoiceStatus.APPROVED, InvoiceStatus.OVERDUE, InvoiceStatus.CLOSED],
        target=InvoiceStatus.PAID,
        conditions=[lambda inv: inv.amount_paid >= inv.total],
        custom={"admin": False},
    )
    def mark_paid(self, *, when):
        self.paid_at = when

    @transition(
        field=status,
        source=[
            InvoiceStatus.OPEN,
            InvoiceStatus.CLOSED,
            InvoiceStatus.APPROVED,
            InvoiceStatus.OVERDUE,
        ],
        target=InvoiceStatus.CANCELLED,
        conditions=[lambda inv: inv.amount_paid == 0],
        permission="invoicing.cancel_invoice",
        custom={"label": "Cancel (void)", "form": "invoicing.admin.forms.CancelForm"},
    )
    def cancel(self):
        pass


class InvoiceLine(models.Model):
    """Billed entries of one kind and description, summed (signed, like the ledger)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=20)
    description = models.CharField(max_length=500, blank=True)
    quantity = models.PositiveIntegerField(default=1, help_text="How many entries.")
    amount = _amount_field()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.description or self.kind}: {self.amount}"


class PaymentAllocation(models.Model):
    """Money received that was applied to an invoice (oldest unpaid invoices first)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = _amount_field()
    allocated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["allocated_at", "id"]
        constraints = [
            models.CheckConstraint(name="allocation_positive", condition=Q(amount__gt=0))
        ]

    def __str__(self):
        return f"{self.amount} to {self.invoice}"


class InvoiceStatusChange(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self):
        return f"{self.from_status or '—'} → {self.to_status}"


class PaymentStatus(models.TextChoices):
    WAITING = "waiting_for_payment", "Waiting for payment"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Payment(models.Model):
    """The payment expected for a postpaid or credit invoice.

    In external ERP mode it is created `waiting_for_payment` without a due date when the
    invoice is closed; the ERP's approval of the invoice sets the due date and, when its
    own invoice differs, an external total; the ERP approves the payment once paid.
    """

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="payment")
    status = FSMField(
        max_length=30, choices=PaymentStatus.choices, default=PaymentStatus.WAITING, protected=True
    )
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    external_total = _amount_field(
        null=True,
        blank=True,
        help_text="The total of the ERP's own invoice, when it gave one (with its currency).",
    )
    external_currency = models.CharField(max_length=3, blank=True)
    receipt_url = models.URLField(
        max_length=500, blank=True, help_text="A link to the ERP's invoice document."
    )
    receipt_file = models.CharField(
        max_length=100,
        blank=True,
        editable=False,
        help_text="The ERP's invoice PDF, under PRIVATE_MEDIA_ROOT (a random name).",
    )
    receipt_uploaded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_payment", "Can approve or cancel payments")]
        constraints = [
            models.CheckConstraint(
                name="payment_status_valid", condition=Q(status__in=PaymentStatus.values)
            ),
            models.CheckConstraint(
                name="payment_external_total_with_currency",
                condition=Q(external_total__isnull=True, external_currency="")
                | (Q(external_total__gt=0) & ~Q(external_currency="")),
            ),
        ]

    def __str__(self):
        return f"Payment for {self.invoice}"

    def differs_from(self, invoice: Invoice) -> bool:
        """The ERP billed another total or currency than the platform's `invoice`."""
        if self.external_total is None:
            return False
        return (self.external_currency, self.external_total) != (invoice.currency, invoice.total)

    @transition(
        field=status,
        source=PaymentStatus.WAITING,
        target=PaymentStatus.COMPLETED,
        custom={"admin": False},
    )
    def complete(self, *, when):
        self.completed_at = when

    @transition(
        field=status,
        source=PaymentStatus.WAITING,
        target=PaymentStatus.CANCELLED,
        custom={"admin": False},
    )
    def cancel(self, *, when=None):
        self.cancelled_at = when


class PaymentStatusChange(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self):
        return f"{self.from_status or '—'} → {self.to_status}"
