"""Reads for the operator dashboard on the admin index (issue 6).

Each figure is one aggregate query over the whole table, grouped in the database, so
the page costs the same handful of queries on 100 accounts or 100,000: no row is
loaded into Python.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Min, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from accounts.models import BillingAccount, CreditStatus
from approvals.models import ManualOperation, OperationStatus
from billing_site.cycle import CalendarState, calendar_state
from invoicing.models import UNPAID_STATUSES, Invoice, InvoiceStatus

ZERO = Decimal(0)

# (key, label, first day overdue, last day overdue); None = open-ended.
AGING_BUCKETS = (
    ("current", "Current", None, 0),
    ("d1_30", "1–30 days", 1, 30),
    ("d31_60", "31–60 days", 31, 60),
    ("d61_90", "61–90 days", 61, 90),
    ("d90_plus", "90+ days", 91, None),
)
# Invoices that were billed (closed onwards), for the monthly totals.
BILLED_STATUSES = (
    InvoiceStatus.CLOSED,
    InvoiceStatus.APPROVED,
    InvoiceStatus.OVERDUE,
    InvoiceStatus.PAID,
)
MONTHS_SHOWN = 12


@dataclass
class AgingBucket:
    key: str
    label: str
    amount: Decimal
    count: int
    due_after: date | None  # due_date__gte for the changelist link
    due_before: date | None  # due_date__lte


@dataclass
class AgingRow:
    currency: str
    buckets: list[AgingBucket]
    total: Decimal
    count: int


@dataclass
class MonthTotal:
    month: date  # the first of the month
    amount: Decimal
    count: int


@dataclass
class MonthlyBilled:
    currency: str
    months: list[MonthTotal] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((m.amount for m in self.months), ZERO)


def _bucket_q(today: date, first: int | None, last: int | None) -> Q:
    """Days overdue = today − due_date; no due date or not yet due counts as current."""
    if first is None:
        return Q(due_date__isnull=True) | Q(due_date__gte=today - timedelta(days=last))
    q = Q(due_date__lte=today - timedelta(days=first))
    if last is not None:
        q &= Q(due_date__gte=today - timedelta(days=last))
    return q


def _bucket_dates(today: date, first: int | None, last: int | None):
    due_after = today - timedelta(days=last) if last is not None else None
    due_before = today - timedelta(days=first) if first is not None else None
    return due_after, due_before


def dashboard_aging(*, today: date | None = None) -> list[AgingRow]:
    """Outstanding (total − paid) of approved and overdue invoices, by currency and age.

    One query: conditional sums per bucket, grouped by currency.
    """
    today = today or timezone.localdate()
    outstanding = F("total") - F("amount_paid")
    money = DecimalField(max_digits=30, decimal_places=10)
    aggregates = {}
    for key, _label, first, last in AGING_BUCKETS:
        q = _bucket_q(today, first, last)
        aggregates[f"{key}_amount"] = Coalesce(
            Sum(outstanding, filter=q, output_field=money), Value(ZERO), output_field=money
        )
        aggregates[f"{key}_count"] = Count("id", filter=q)
    rows = (
        Invoice.objects.filter(status__in=UNPAID_STATUSES, total__gt=F("amount_paid"))
        .order_by()
        .values("currency")
        .annotate(**aggregates)
        .order_by("currency")
    )
    result = []
    for row in rows:
        buckets = [
            AgingBucket(
                key=key,
                label=label,
                amount=row[f"{key}_amount"],
                count=row[f"{key}_count"],
                due_after=_bucket_dates(today, first, last)[0],
                due_before=_bucket_dates(today, first, last)[1],
            )
            for key, label, first, last in AGING_BUCKETS
        ]
        result.append(
            AgingRow(
                currency=row["currency"],
                buckets=buckets,
                total=sum((b.amount for b in buckets), ZERO),
                count=sum(b.count for b in buckets),
            )
        )
    return result


def dashboard_blocked_accounts() -> int:
    return BillingAccount.objects.filter(credit_status=CreditStatus.BLOCKED).count()


def dashboard_pending_operations() -> dict:
    """How many manual operations wait for a manager, and since when (the oldest)."""
    return ManualOperation.objects.filter(status=OperationStatus.PENDING).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )


def dashboard_calendar() -> CalendarState:
    """Where the billing calendar is (two queries): its last completed day, and the days
    since, each missed once past its deadline or behind with a failed step.

    Read from the calendar's own rows and the clock, so the warning shows even while
    no task can run at all (a broker outage).
    """
    return calendar_state()


def dashboard_overdue_invoices() -> int:
    return Invoice.objects.filter(status=InvoiceStatus.OVERDUE).count()


def month_starts(today: date, count: int = MONTHS_SHOWN) -> list[date]:
    """The first days of the last `count` months, oldest first, this month last."""
    year, month = today.year, today.month
    starts = []
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def dashboard_billed_per_month(*, today: date | None = None) -> list[MonthlyBilled]:
    """Totals of the invoices issued in each of the last 12 months, per currency.

    Every month appears, with zero when nothing was billed, so the chart's bars line up.
    """
    today = today or timezone.localdate()
    months = month_starts(today)
    rows = (
        Invoice.objects.filter(status__in=BILLED_STATUSES, issued_on__gte=months[0])
        .order_by()
        .annotate(month=TruncMonth("issued_on"))
        .values("currency", "month")
        .annotate(amount=Sum("total"), count=Count("id"))
        .order_by("currency", "month")
    )
    found: dict[str, dict[date, tuple[Decimal, int]]] = {}
    for row in rows:
        month = row["month"]
        month = month.date() if hasattr(month, "date") else month
        found.setdefault(row["currency"], {})[month] = (row["amount"] or ZERO, row["count"])
    return [
        MonthlyBilled(
            currency=currency,
            months=[MonthTotal(m, *by_month.get(m, (ZERO, 0))) for m in months],
        )
        for currency, by_month in sorted(found.items())
    ]
