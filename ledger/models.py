"""The books: append-only entries, one balance row per account, and holds (docs/design.md §2).

Entries are never updated or deleted (a database trigger refuses it, see migration
0002); the balance row is written in the same transaction as every entry, under a row
lock, so reading a balance is one row and every spend decision is serialised per
account.

Which invoice bills an entry is fixed when the entry is booked, never written later: an
entry booked for an invoice (its rounding, the reversal of a cancelled one) names it in
`invoice`; any other billable entry carries `bill_at`, and the account's invoice whose
billing window [bills_from, bills_until) holds that instant bills it. Each invoice moves
the account's cut-off (`Balance.billed_until`) to the end of its window, and an entry is
never booked with `bill_at` before the cut-off (a database trigger refuses it, see
migration 0004), so a window, once invoiced, never receives another entry.
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, transition

from accounts.models import BillingAccount
from billing_site.money import LEDGER_PLACES, MAX_DIGITS


def _amount_field(**kwargs):
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=LEDGER_PLACES, **kwargs)


class EntryKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    USAGE = "usage", "Usage"
    RENEWAL = "renewal", "Renewal"
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"
    ROUNDING = "rounding", "Rounding"


# Kinds that are services sold to the client: they wait in "unbilled" until an invoice
# bills them. Payments and refunds move money, not services, and settle amount due.
BILLABLE_KINDS = frozenset(
    {EntryKind.CHARGE, EntryKind.USAGE, EntryKind.RENEWAL, EntryKind.ADJUSTMENT, EntryKind.ROUNDING}
)
# Kinds a caller may book as a spend through `ledger_charge`.
SPEND_KINDS = (EntryKind.CHARGE, EntryKind.USAGE, EntryKind.RENEWAL)


class Entry(models.Model):
    """One signed movement: charges negative, money received positive."""

    # No index of its own: the two (account, …) indexes below serve every look-up by account.
    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount = _amount_field()
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    description = models.CharField(max_length=500, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200)
    reservation = models.OneToOneField(
        "Reservation", null=True, blank=True, on_delete=models.PROTECT, related_name="entry"
    )
    invoice = models.ForeignKey(
        "invoicing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="booked_entries",
        db_index=False,  # a partial index below: almost every entry has none
        help_text="The invoice this entry was booked for (its rounding, or the reversal of "
        "a cancelled invoice). Other entries are billed by the invoice whose window holds "
        "their billing instant.",
    )
    bill_at = models.DateTimeField(
        "billing instant",
        help_text="Decides which invoice bills the entry: when it was booked, or the end "
        "of its service period if that came first, but never before the account's last "
        "billing cut-off.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-created_at", "-id"]
        permissions = [
            ("post_charge", "Can charge accounts"),
            ("receive_payment", "Can book money received"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="entry_idempotency_key_per_account"
            ),
            models.CheckConstraint(name="entry_amount_nonzero", condition=~Q(amount=0)),
            models.CheckConstraint(name="entry_kind_valid", condition=Q(kind__in=EntryKind.values)),
            # The sign follows the kind, so a bug can never book a "charge" that pays.
            models.CheckConstraint(
                name="entry_sign_matches_kind",
                condition=(
                    Q(kind__in=[*SPEND_KINDS], amount__lt=0)
                    | Q(kind=EntryKind.PAYMENT, amount__gt=0)
                    | Q(kind=EntryKind.REFUND, amount__lt=0)
                    | Q(kind__in=[EntryKind.ADJUSTMENT, EntryKind.ROUNDING])
                ),
            ),
            models.CheckConstraint(
                name="entry_period_ordered",
                condition=Q(period_start__isnull=True)
                | Q(period_end__isnull=True)
                | Q(period_start__lte=models.F("period_end")),
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"]),
            # The monthly run and the unbilled figures read an account's entries from
            # its cut-off on.
            models.Index(fields=["account", "bill_at"], name="entry_account_bill_at"),
            models.Index(
                fields=["invoice"],
                name="entry_booked_for_invoice",
                condition=Q(invoice__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} {self.account.currency}"

    @property
    def is_billable(self) -> bool:
        return self.kind in BILLABLE_KINDS


class Balance(models.Model):
    """The running figures of one account, kept equal to the sum of its entries.

    `balance` = Σ entries; `unbilled` = Σ billable entries not yet invoiced; `reserved`
    = Σ pending holds (a positive number). `amount_due` = balance − unbilled.
    """

    account = models.OneToOneField(
        BillingAccount, on_delete=models.PROTECT, primary_key=True, related_name="balance_row"
    )
    balance = _amount_field(default=0)
    unbilled = _amount_field(default=0)
    reserved = _amount_field(default=0)
    entry_count = models.BigIntegerField(default=0)
    billed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The cut-off of the account's last invoice: every billable entry whose "
        "billing instant is before it has been invoiced.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="balance_reserved_nonnegative", condition=Q(reserved__gte=0)
            ),
        ]

    def __str__(self):
        return f"Balance of {self.account_id}: {self.balance}"


def period_end_instant(period_end) -> datetime | None:
    """The last microsecond of a service period's last day, in the billing time zone."""
    if period_end is None:
        return None
    next_day = datetime.combine(period_end + timedelta(days=1), time.min)
    return timezone.make_aware(next_day) - timedelta(microseconds=1)


def natural_bill_at(*, created_at: datetime, period_end) -> datetime:
    """An entry belongs to the month it was booked in, or to the month its service period
    ended in when that came first (a fee charged in arrears on the 1st, a late record)."""
    end = period_end_instant(period_end)
    return created_at if end is None else min(created_at, end)


def bill_at_for(*, created_at: datetime, period_end, billed_until: datetime | None) -> datetime:
    """The billing instant of an entry booked now on an account cut off at `billed_until`:
    a window already invoiced is closed, so a late entry goes to the next invoice."""
    natural = natural_bill_at(created_at=created_at, period_end=period_end)
    return natural if billed_until is None or natural >= billed_until else billed_until


class ReservationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMMITTED = "committed", "Committed"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    """A hold on usable funds for a transaction in progress (a call, a provisioning)."""

    account = models.ForeignKey(
        BillingAccount, on_delete=models.PROTECT, related_name="reservations"
    )
    amount = _amount_field(help_text="The held amount, positive.")
    committed_amount = _amount_field(null=True, blank=True)
    description = models.CharField(max_length=500, blank=True)
    status = FSMField(
        max_length=20,
        choices=ReservationStatus.choices,
        default=ReservationStatus.PENDING,
        protected=True,
    )
    idempotency_key = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                name="reservation_idempotency_key_per_account",
            ),
            models.CheckConstraint(name="reservation_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="reservation_commit_within_hold",
                condition=Q(committed_amount__isnull=True)
                | Q(committed_amount__gt=0, committed_amount__lte=models.F("amount")),
            ),
            models.CheckConstraint(
                name="reservation_status_valid",
                condition=Q(status__in=ReservationStatus.values),
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="reservation_pending_expiry",
                condition=Q(status=ReservationStatus.PENDING),
            )
        ]

    def __str__(self):
        return f"Hold #{self.pk} {self.amount} ({self.status})"

    @transition(field=status, source=ReservationStatus.PENDING, target=ReservationStatus.COMMITTED)
    def commit(self, *, amount):
        self.committed_amount = amount

    @transition(field=status, source=ReservationStatus.PENDING, target=ReservationStatus.RELEASED)
    def release(self):
        pass

    @transition(field=status, source=ReservationStatus.PENDING, target=ReservationStatus.EXPIRED)
    def expire(self):
        pass
