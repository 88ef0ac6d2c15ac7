"""Random sequences of every ledger write against a model of what docs/design.md §1–§2 allow.

The model keeps its own figures and its own reading of `usable`; every step checks that
the service accepted exactly what the model's `usable` allowed before the step, and
after every step the books must agree with the model and with the sum of the entries.
"""

from decimal import Decimal
from itertools import count

import pytest
from django.db.models import Count, Q, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts.models import AccountStateChange, BillingAccount, PaymentModeChange
from accounts.services import account_block_credit, account_convert_mode, account_unblock_credit
from billing_site.exceptions import IdempotencyConflict, InvalidInput, InvalidTransition
from billing_site.money import exact
from ledger.exceptions import CreditBlocked, InsufficientFunds
from ledger.models import BILLABLE_KINDS, Balance, Entry, Reservation, ReservationStatus
from ledger.selectors import account_figures
from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_receive_payment,
    ledger_release,
    ledger_reserve,
)
from tests.factories import AccountFactory

ZERO = Decimal(0)
MICRO = Decimal("0.000001")

amounts = st.one_of(
    st.decimals(min_value=MICRO, max_value=Decimal("60"), places=6),
    st.sampled_from([Decimal(v) for v in ("1", "2.5", "9.99", "25", "49.999999")]),
)
positive_limits = st.sampled_from([Decimal(v) for v in ("0.000001", "10", "50", "100.5")])
bad_amounts = st.sampled_from(
    [0, "0", "-1", "-0.000001", "NaN", "Infinity", "1e9999", "0.0000001", "2.1234567", 0.5, None]
)
limits = st.one_of(
    st.none(),
    st.sampled_from(["0", "-5", "abc"]),
    st.decimals(min_value=MICRO, max_value=Decimal("150"), places=6),
)
modes = st.sampled_from(["prepaid", "postpaid", "credit_limit"])
scopes = st.sampled_from([None, "total_debt", "monthly_unbilled"])
# Of the hold; None commits the whole hold without naming an amount. Mostly partial:
# those are the commits that must free more than they charge.
fractions = st.sampled_from(
    [None, Decimal(1), Decimal("0.5"), Decimal("0.01"), Decimal("0.999"), Decimal("0.333333")]
)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.account = AccountFactory()
        self.keys = count()
        self.mode, self.limit, self.scope, self.status = "prepaid", None, "total_debt", "active"
        self.balance = self.unbilled = ZERO
        self.entries = 0
        self.holds: dict[int, list] = {}  # id -> [amount, status]
        self.charges: list[tuple[str, Decimal]] = []
        self.mode_changes = 0
        self.state_changes = 0

    # -- the model ------------------------------------------------------------------------

    @property
    def reserved(self):
        return sum((a for a, s in self.holds.values() if s == "pending"), ZERO)

    def usable(self):
        """docs/design.md §2, read independently of ledger.selectors."""
        free = self.balance - self.reserved
        if self.mode == "postpaid":
            return None
        if self.mode == "prepaid":
            return free
        if self.status == "blocked":
            return max(free, ZERO)
        if self.scope == "monthly_unbilled":
            amount_due = self.balance - self.unbilled
            return self.limit + self.unbilled + max(amount_due, ZERO) - self.reserved
        return self.balance + self.limit - self.reserved

    def allows(self, amount):
        usable = self.usable()
        return usable is None or amount <= usable

    def key(self, prefix):
        return f"{prefix}-{next(self.keys)}"

    def snapshot(self):
        """Everything a refused operation must leave as it was."""
        row = Balance.objects.get(account=self.account)
        account = BillingAccount.objects.get(pk=self.account.pk)
        return (
            (row.balance, row.unbilled, row.reserved, row.entry_count),
            (account.payment_mode, account.credit_limit, account.credit_limit_scope),
            account.credit_status,
            tuple(
                Reservation.objects.filter(account=self.account)
                .order_by("id")
                .values_list("status", "committed_amount")
            ),
            PaymentModeChange.objects.filter(account=self.account).count(),
            AccountStateChange.objects.filter(account=self.account).count(),
        )

    def refused(self, error, call):
        before = self.snapshot()
        with pytest.raises(error) as raised:
            call()
        assert self.snapshot() == before, "a refused operation changed the books"
        return raised.value

    def check_spend_bounds(self):
        """After an accepted spend: what the mode allows was not exceeded."""
        free = self.balance - self.reserved
        if self.mode == "prepaid" or (self.mode == "credit_limit" and self.status == "blocked"):
            assert free >= 0
        elif self.mode == "credit_limit" and self.scope == "total_debt":
            assert free >= -self.limit
        elif self.mode == "credit_limit":
            assert self.usable() >= 0

    def expect_refusal(self):
        if self.mode == "credit_limit" and self.status == "blocked":
            return CreditBlocked
        return InsufficientFunds

    @initialize(funds=st.one_of(st.just(ZERO), amounts), mode=modes, limit=positive_limits)
    def open_the_account(self, funds, mode, limit):
        """Start from any mode, with or without money, so holds and limits come early."""
        if funds:
            self.receive_payment(funds)
        if mode != "prepaid":
            self.convert_mode(mode, limit if mode == "credit_limit" else None, None)

    # -- spends ---------------------------------------------------------------------------

    def _charge(self, amount):
        key = self.key("c")
        call = lambda: ledger_charge(  # noqa: E731
            account_id=self.account.pk, amount=str(amount), idempotency_key=key
        )
        if not self.allows(amount):
            error = self.refused(self.expect_refusal(), call)
            assert error.field == "amount"
            return
        booking = call()
        assert booking.entry.amount == -amount
        self.balance -= amount
        self.unbilled -= amount
        self.entries += 1
        self.charges.append((key, amount))
        self.check_spend_bounds()

    @rule(amount=amounts)
    def charge(self, amount):
        self._charge(amount)

    @precondition(lambda self: self.usable() is not None and self.usable() > 0)
    @rule(over=st.sampled_from([ZERO, MICRO]))
    def charge_all_that_is_usable(self, over):
        self._charge(self.usable() + over)

    @rule(amount=bad_amounts)
    def charge_a_bad_amount(self, amount):
        error = self.refused(
            InvalidInput,
            lambda: ledger_charge(
                account_id=self.account.pk, amount=amount, idempotency_key=self.key("bad")
            ),
        )
        assert error.field == "amount"

    @precondition(lambda self: self.charges)
    @rule(index=st.integers(min_value=0), conflict=st.booleans())
    def replay_a_charge(self, index, conflict):
        key, amount = self.charges[index % len(self.charges)]
        if conflict:
            self.refused(
                IdempotencyConflict,
                lambda: ledger_charge(
                    account_id=self.account.pk, amount=amount + MICRO, idempotency_key=key
                ),
            )
            return
        before = self.snapshot()
        booking = ledger_charge(account_id=self.account.pk, amount=amount, idempotency_key=key)
        assert booking.replayed
        assert self.snapshot() == before

    @rule(amount=amounts)
    def reserve(self, amount):
        call = lambda: ledger_reserve(  # noqa: E731
            account_id=self.account.pk, amount=amount, idempotency_key=self.key("h")
        )
        if not self.allows(amount):
            self.refused(self.expect_refusal(), call)
            return
        hold = call().reservation
        self.holds[hold.pk] = [amount, "pending"]
        self.check_spend_bounds()

    def _pick_hold(self, index):
        ids = sorted(self.holds)
        return ids[index % len(ids)]

    @precondition(lambda self: self.holds)
    @rule(index=st.integers(min_value=0), fraction=fractions)
    def commit(self, index, fraction):
        hold_id = self._pick_hold(index)
        held, status = self.holds[hold_id]
        final = None if fraction is None else max(MICRO, (held * fraction).quantize(MICRO))
        call = lambda: ledger_commit(reservation_id=hold_id, amount=final)  # noqa: E731
        if status == "released":
            self.refused(InvalidTransition, call)
            return
        if status == "committed":
            committed = Reservation.objects.get(pk=hold_id).committed_amount
            if final is not None and final != committed:
                self.refused(IdempotencyConflict, call)
                return
            before = self.snapshot()
            assert call().replayed
            assert self.snapshot() == before
            return
        free_before = self.balance - self.reserved
        booking = call()
        charged = held if final is None else final
        assert booking.entry.amount == -charged
        self.balance -= charged
        self.unbilled -= charged
        self.entries += 1
        self.holds[hold_id][1] = "committed"
        # Settling a hold never takes more than the hold already set aside.
        assert self.balance - self.reserved >= free_before

    @precondition(lambda self: any(s == "pending" for _, s in self.holds.values()))
    @rule(index=st.integers(min_value=0))
    def commit_more_than_the_hold(self, index):
        pending = sorted(i for i, (_, s) in self.holds.items() if s == "pending")
        hold_id = pending[index % len(pending)]
        amount = self.holds[hold_id][0] + MICRO
        self.refused(InvalidInput, lambda: ledger_commit(reservation_id=hold_id, amount=amount))

    @precondition(lambda self: self.holds)
    @rule(index=st.integers(min_value=0))
    def release(self, index):
        hold_id = self._pick_hold(index)
        status = self.holds[hold_id][1]
        call = lambda: ledger_release(reservation_id=hold_id)  # noqa: E731
        if status == "committed":
            self.refused(InvalidTransition, call)
            return
        booking = call()
        assert booking.replayed == (status == "released")
        self.holds[hold_id][1] = "released"

    @rule(amount=amounts)
    def receive_payment(self, amount):
        ledger_receive_payment(
            account_id=self.account.pk, amount=amount, idempotency_key=self.key("p")
        )
        self.balance += amount
        self.entries += 1

    # -- modes and credit status ----------------------------------------------------------

    @rule(mode=modes, limit=limits, scope=scopes)
    def convert_mode(self, mode, limit, scope):
        call = lambda: account_convert_mode(  # noqa: E731
            account_id=self.account.pk,
            payment_mode=mode,
            credit_limit=None if limit is None else str(limit),
            credit_limit_scope=scope,
            reason="stateful test",
        )
        valid = isinstance(limit, Decimal) if mode == "credit_limit" else limit is None
        if not valid:
            self.refused(InvalidInput, call)
            return
        call()
        new_limit = limit if mode == "credit_limit" else None
        new_scope = (scope or self.scope) if mode == "credit_limit" else "total_debt"
        if (mode, new_limit, new_scope) != (self.mode, self.limit, self.scope):
            self.mode_changes += 1
        self.mode, self.limit, self.scope = mode, new_limit, new_scope

    @rule()
    def block_credit(self):
        call = lambda: account_block_credit(account_id=self.account.pk, reason="overdue")  # noqa: E731
        if self.mode != "credit_limit" or self.status == "blocked":
            self.refused(InvalidTransition, call)
            return
        call()
        self.status = "blocked"
        self.state_changes += 1

    @rule()
    def unblock_credit(self):
        call = lambda: account_unblock_credit(account_id=self.account.pk, reason="paid")  # noqa: E731
        if self.status != "blocked":
            self.refused(InvalidTransition, call)
            return
        call()
        self.status = "active"
        self.state_changes += 1

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def balance_row_equals_the_sum_of_entries(self):
        row = Balance.objects.get(account=self.account)
        sums = Entry.objects.filter(account=self.account).aggregate(
            balance=Sum("amount"),
            unbilled=Sum("amount", filter=Q(kind__in=BILLABLE_KINDS)),
            count=Count("id"),
        )
        held = Reservation.objects.filter(
            account=self.account, status=ReservationStatus.PENDING
        ).aggregate(total=Sum("amount"))["total"]
        assert row.balance == exact(sums["balance"] or ZERO) == self.balance
        assert row.unbilled == exact(sums["unbilled"] or ZERO) == self.unbilled
        assert row.reserved == exact(held or ZERO) == self.reserved
        assert row.entry_count == sums["count"] == self.entries

    @invariant()
    def account_matches_the_model(self):
        account = BillingAccount.objects.get(pk=self.account.pk)
        assert (account.payment_mode, account.credit_limit, account.credit_limit_scope) == (
            self.mode,
            self.limit,
            self.scope,
        )
        assert account.credit_status == self.status
        assert PaymentModeChange.objects.filter(account=account).count() == self.mode_changes
        assert AccountStateChange.objects.filter(account=account).count() == self.state_changes
        statuses = dict(Reservation.objects.filter(account=account).values_list("id", "status"))
        assert statuses == {i: s for i, (_, s) in self.holds.items()}

    @invariant()
    def usable_figure_matches_the_design(self):
        assert account_figures(self.account.pk).usable == self.usable()


@pytest.mark.django_db
def test_ledger_keeps_its_books_under_random_operations():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        ),
    )
