"""Reads of the books for admin, portal, API and commands."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Count, DateTimeField, DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import BillingAccount, CreditLimitScope, CreditStatus, PaymentMode
from billing_site.money import LEDGER_PLACES, MAX_AMOUNT, MAX_DIGITS, ZERO, exact

from .models import BILLABLE_KINDS, Balance, Entry, Reservation, ReservationStatus


@dataclass(frozen=True)
class Figures:
    """The five figures of docs/design.md §2, in the account's currency.

    `usable` is None when the account may spend without limit (postpaid).
    """

    currency: str
    balance: Decimal
    unbilled: Decimal
    amount_due: Decimal
    reserved: Decimal
    usable: Decimal | None


def usable_amount(
    account: BillingAccount, *, balance: Decimal, unbilled: Decimal, reserved: Decimal
) -> Decimal | None:
    """What the account can spend now; every spend decision goes through here."""
    mode = account.payment_mode
    if mode == PaymentMode.POSTPAID:
        return None
    if mode == PaymentMode.PREPAID:
        return balance - reserved
    if account.credit_status == CreditStatus.BLOCKED:
        # Blocked credit: only money the client actually has.
        return max(balance - reserved, ZERO)
    limit = account.credit_limit
    if account.credit_limit_scope == CreditLimitScope.MONTHLY_UNBILLED:
        # The limit covers this period's unbilled charges; billed debt is governed by
        # due dates and overdue blocking, and money paid in ahead is spendable too.
        amount_due = balance - unbilled
        return limit + unbilled + max(amount_due, ZERO) - reserved
    return balance + limit - reserved


def usable_sql(balance: str = "b", account: str = "a") -> str:
    """`usable_amount` as a SQL expression over a balance row and its account row.

    The same rule, rendered for the single-statement spend on PostgreSQL
    (`ledger.services`); `tests/ledger/test_usable_sql.py` proves the two renderings
    agree on every mode, status and scope. NULL means unlimited.
    """
    b, a = balance, account
    return (
        f"CASE WHEN {a}.payment_mode = '{PaymentMode.POSTPAID}' THEN NULL "
        f"WHEN {a}.payment_mode = '{PaymentMode.PREPAID}' THEN {b}.balance - {b}.reserved "
        f"WHEN {a}.credit_status = '{CreditStatus.BLOCKED}' "
        f"THEN GREATEST({b}.balance - {b}.reserved, 0) "
        f"WHEN {a}.credit_limit_scope = '{CreditLimitScope.MONTHLY_UNBILLED}' "
        f"THEN {a}.credit_limit + {b}.unbilled "
        f"+ GREATEST({b}.balance - {b}.unbilled, 0) - {b}.reserved "
        f"ELSE {b}.balance + {a}.credit_limit - {b}.reserved END"
    )


def spend_room(*, balance: Decimal, unbilled: Decimal, reserved: Decimal) -> Decimal:
    """What the books' ceiling leaves for spends and holds: a spend must be smaller.

    Every pending hold counts as spent, so that committing them all keeps balance and
    unbilled smaller than MAX_AMOUNT in size; a commit then never meets the ceiling.
    """
    return MAX_AMOUNT + min(balance, unbilled) - reserved


def spend_room_sql(balance: str = "b") -> str:
    """`spend_room` over a balance row, for the single-statement spend (same rule)."""
    b = balance
    return f"({MAX_AMOUNT}::numeric + LEAST({b}.balance, {b}.unbilled) - {b}.reserved)"


def payment_room(*, balance: Decimal) -> Decimal:
    """What the ceiling leaves for money received: a payment must be smaller."""
    return MAX_AMOUNT - balance


def figures_from_row(row: Balance, account: BillingAccount) -> Figures:
    return Figures(
        currency=account.currency,
        balance=row.balance,
        unbilled=row.unbilled,
        amount_due=row.balance - row.unbilled,
        reserved=row.reserved,
        usable=usable_amount(
            account, balance=row.balance, unbilled=row.unbilled, reserved=row.reserved
        ),
    )


def account_figures(account: BillingAccount | int) -> Figures:
    """The figures of one account: one row read, whatever the number of entries."""
    account_id = account if isinstance(account, int) else account.pk
    row = Balance.objects.select_related("account").get(account_id=account_id)
    return figures_from_row(row, row.account)


_SUM = DecimalField(max_digits=MAX_DIGITS + 6, decimal_places=LEDGER_PLACES)


def _sum(expression_filter=None):
    return Coalesce(Sum("amount", filter=expression_filter), Value(ZERO), output_field=_SUM)


# Before the first entry of any account: the cut-off of an account never invoiced.
BEFORE_ANY_ENTRY = datetime(1970, 1, 1, tzinfo=UTC)


def unbilled_q(cutoff=None) -> Q:
    """Billable entries no invoice has billed: booked for no invoice by name, and with a
    billing instant from the account's cut-off on. `cutoff`: where the cut-off is read,
    the entry's own balance row unless given (an `OuterRef` from a balance-row query)."""
    cutoff = F("account__balance_row__billed_until") if cutoff is None else cutoff
    return Q(
        kind__in=BILLABLE_KINDS,
        invoice__isnull=True,
        bill_at__gte=Coalesce(cutoff, Value(BEFORE_ANY_ENTRY, output_field=DateTimeField())),
    )


def unbilled_entries(account_id: int):
    """The entries an account's `unbilled` figure adds up, oldest first."""
    return Entry.objects.filter(unbilled_q(), account_id=account_id).order_by("bill_at", "id")


@dataclass(frozen=True)
class LedgerMismatch:
    account_id: int
    what: str
    stored: Decimal
    computed: Decimal

    def __str__(self):
        return (
            f"account {self.account_id}: {self.what} row says {self.stored}, "
            f"entries say {self.computed}"
        )


def ledger_mismatches(chunk_size: int = 2000):
    """Yield every difference between balance rows and what their entries add up to.

    Set-based per chunk of accounts: one aggregate over entries and one over pending
    holds per chunk, never one query per entry.
    """
    account_ids = list(Balance.objects.order_by("account_id").values_list("account_id", flat=True))
    for start in range(0, len(account_ids), chunk_size):
        ids = account_ids[start : start + chunk_size]
        rows = {b.account_id: b for b in Balance.objects.filter(account_id__in=ids)}
        sums = {
            r["account_id"]: r
            for r in Entry.objects.filter(account_id__in=ids)
            .values("account_id")
            .annotate(
                balance=_sum(),
                unbilled=_sum(unbilled_q()),
                count=Count("id"),
            )
        }
        holds = dict(
            Reservation.objects.filter(account_id__in=ids, status=ReservationStatus.PENDING)
            .values("account_id")
            .annotate(total=_sum())
            .values_list("account_id", "total")
        )
        for account_id in ids:
            row = rows[account_id]
            computed = sums.get(account_id, {"balance": ZERO, "unbilled": ZERO, "count": 0})
            checks = (
                ("balance", row.balance, computed["balance"]),
                ("unbilled", row.unbilled, computed["unbilled"]),
                ("reserved", row.reserved, holds.get(account_id, ZERO)),
                ("entry count", Decimal(row.entry_count), Decimal(computed["count"])),
            )
            for what, stored, actual in checks:
                actual = exact(actual)  # six places, as the balance row stores it
                if stored != actual:
                    yield LedgerMismatch(account_id, what, stored, actual)


def accounts_without_balance_row():
    return BillingAccount.objects.filter(balance_row__isnull=True).values_list("pk", flat=True)
