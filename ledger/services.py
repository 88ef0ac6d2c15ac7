"""Every write to the books. One rule decides every spend: `_refuse_unless_usable`; one
ceiling bounds every figure: `_refuse_past_ceiling`.

Each service is atomic, takes an idempotency key and returns the first result again
when retried with it. Concurrency: a spend locks the account's balance row (and the
account row, so a concurrent mode change is seen) before deciding, so two spends on
one account are decided one after the other and can never overdraw together.

One key, one outcome: a refusal is decided under the lock, and only after the key is
looked up again there. A first attempt with the same key may have booked and committed
while this one waited for the lock; its booking, not a refusal, answers the key.
"""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import BillingAccount, CreditStatus, PaymentMode
from billing_site.exceptions import IdempotencyConflict, InvalidInput, InvalidTransition, NotFound
from billing_site.money import LEDGER_QUANTUM, MAX_AMOUNT, ZERO, InvalidAmount, to_ledger_amount

from .exceptions import (
    BOOKS_REFUSALS,
    CeilingReached,
    CreditBlocked,
    InsufficientFunds,
    PaymentCeilingReached,
)
from .models import (
    BILLABLE_KINDS,
    SPEND_KINDS,
    Balance,
    Entry,
    EntryKind,
    Reservation,
    ReservationStatus,
    bill_at_for,
    natural_bill_at,
)
from .selectors import (
    Figures,
    figures_from_row,
    payment_room,
    spend_room,
    spend_room_sql,
    usable_amount,
    usable_sql,
)

DEFAULT_HOLD_SECONDS = 3600
MAX_HOLD_SECONDS = 31 * 24 * 3600
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Booking:
    """What a money-moving service did: the entry (or hold) and the figures after it."""

    entry: Entry | None
    figures: Figures
    replayed: bool = False
    reservation: Reservation | None = None


# -- helpers -----------------------------------------------------------------------


def positive_amount(value, *, field: str = "amount") -> Decimal:
    """Parse a caller's amount: a finite decimal > 0 with at most six places."""
    try:
        amount = to_ledger_amount(value)
    except InvalidAmount as exc:
        raise InvalidInput(str(exc), field=field) from exc
    if amount <= 0:
        raise InvalidInput("The amount must be greater than zero.", field=field)
    return amount


def _check_key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key:
        raise InvalidInput("An idempotency key is required.", field="idempotency_key")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"The idempotency key is longer than {MAX_KEY_LENGTH} characters.",
            field="idempotency_key",
        )
    return key


def lock_books(account_id: int) -> Balance:
    """Lock the account's balance row and account row, in that order, for this transaction.

    Every service that changes what an account may spend (spends, holds, mode changes,
    credit blocking) takes this lock first, so their decisions never interleave.
    FOR NO KEY UPDATE leaves foreign-key checks of concurrent inserts unblocked.
    """
    try:
        return (
            Balance.objects.select_for_update(no_key=True)
            .select_related("account")
            .get(account_id=account_id)
        )
    except Balance.DoesNotExist:
        raise NotFound(f"Account {account_id} does not exist.", field="account") from None


def _refuse_unless_usable(row: Balance, amount: Decimal) -> None:
    account = row.account
    usable = usable_amount(
        account, balance=row.balance, unbilled=row.unbilled, reserved=row.reserved
    )
    if usable is None or amount <= usable:
        return
    currency = account.currency
    if account.payment_mode == PaymentMode.CREDIT_LIMIT and (
        account.credit_status == CreditStatus.BLOCKED
    ):
        # The reason recorded by the block (what staff typed, or the overdue invoice),
        # never a guess: a block set by hand has nothing to do with invoices.
        raise CreditBlocked(
            f"The account's credit is blocked: {account.credit_block_why} It can spend only "
            f"its own funds ({max(usable, Decimal(0))} {currency} usable, "
            f"{amount} {currency} asked).",
            field="amount",
        )
    if usable < 0 and account.payment_mode == PaymentMode.PREPAID:
        detail = (
            f"The account is prepaid and its balance is negative ({row.balance} {currency}); "
            f"it must be topped up before it can spend."
        )
    else:
        detail = f"Insufficient funds: {usable} {currency} usable, {amount} {currency} asked."
    raise InsufficientFunds(detail, field="amount")


def _refuse_past_ceiling(row: Balance, *, amount: Decimal, hold: bool = False) -> None:
    """Refuse a booking that would take a figure of the account past the books' ceiling.

    `amount` is signed as booked (a spend or hold negative, money received positive).
    Only the direction the booking moves is checked, so no account is ever stuck: money
    received always goes through while it lowers a debt, a smaller spend while it fits,
    and a month's charges make room again once they are invoiced.
    """
    currency = row.account.currency
    limit = f"{MAX_AMOUNT:,} {currency}"
    if amount > 0:
        room = payment_room(balance=row.balance)
        if amount < room:
            return
        most = max(room - LEDGER_QUANTUM, ZERO)
        raise PaymentCeilingReached(
            f"The books hold amounts smaller than {limit}: receiving {amount} {currency} would "
            f"take the account's balance to {row.balance + amount:,} {currency}. At most "
            f"{most:,} {currency} can be received until the account spends.",
            field="amount",
        )
    spend = -amount
    room = spend_room(balance=row.balance, unbilled=row.unbilled, reserved=row.reserved)
    figure = "unbilled charges" if row.unbilled < row.balance else "balance"
    after = min(row.balance, row.unbilled) - row.reserved - spend
    if hold and MAX_AMOUNT - row.reserved < room:
        room, figure, after = MAX_AMOUNT - row.reserved, "holds", row.reserved + spend
    if spend < room:
        return
    holds = " (counting its pending holds as spent)" if row.reserved and figure != "holds" else ""
    most = max(room - LEDGER_QUANTUM, ZERO)
    action = "held" if hold else "charged"
    raise CeilingReached(
        f"The books hold amounts smaller than {limit}: this {'hold' if hold else 'charge'} of "
        f"{spend} {currency} would take the account's {figure}{holds} to {after:,} {currency}. "
        f"At most {most:,} {currency} can be {action} until money is received.",
        field="amount",
    )


def _post(
    row: Balance,
    *,
    amount: Decimal,
    kind: str,
    reserved_delta: Decimal = Decimal(0),
    **entry_fields,
) -> Entry:
    """Insert one entry and move the locked balance row by the same amount."""
    now = timezone.now()
    entry = Entry.objects.create(
        account_id=row.account_id,
        amount=amount,
        kind=kind,
        created_at=now,
        bill_at=bill_at_for(
            created_at=now,
            period_end=entry_fields.get("period_end"),
            billed_until=row.billed_until,
        ),
        **entry_fields,
    )
    row.balance += amount
    if kind in BILLABLE_KINDS:
        row.unbilled += amount
    row.reserved += reserved_delta
    row.entry_count += 1
    row.save(update_fields=["balance", "unbilled", "reserved", "entry_count", "updated_at"])
    return entry


def _replay_entry(entry: Entry, *, amount: Decimal, kind: str) -> Booking:
    if entry.amount != amount or entry.kind != kind:
        raise IdempotencyConflict(
            "This idempotency key was already used for a different booking "
            f"({entry.get_kind_display().lower()} of {entry.amount} {entry.account.currency}).",
            field="idempotency_key",
        )
    row = Balance.objects.select_related("account").get(account_id=entry.account_id)
    return Booking(entry=entry, figures=figures_from_row(row, row.account), replayed=True)


def _existing_entry(account_id: int, key: str) -> Entry | None:
    return (
        Entry.objects.select_related("account")
        .filter(account_id=account_id, idempotency_key=key)
        .first()
    )


def _book_once(
    *,
    account_id: int,
    key: str,
    amount: Decimal,
    kind: str,
    check_usable: bool,
    after_post: Callable[[Balance], None] | None = None,
    **entry_fields,
) -> Booking:
    """Book one entry exactly once per (account, key), deciding under the account lock.

    The fast path answers a retry without taking the lock; two first attempts racing with
    the same key meet at the unique index, and the loser answers with the winner's entry.
    """
    if (
        check_usable
        and after_post is None
        and kind in BILLABLE_KINDS
        and connection.vendor == "postgresql"
    ):
        booking = _spend_in_one_statement(
            account_id=account_id, key=key, amount=amount, kind=kind, **entry_fields
        )
        if booking is not None:
            return booking
        # Refused, unknown account or key already used: the locked path below says
        # which, in words, and books if the state changed meanwhile.
    existing = _existing_entry(account_id, key)
    if existing is not None:
        return _replay_entry(existing, amount=amount, kind=kind)
    try:
        with transaction.atomic():
            row = lock_books(account_id)
            try:
                if check_usable:
                    _refuse_unless_usable(row, -amount)
                _refuse_past_ceiling(row, amount=amount)
            except BOOKS_REFUSALS:
                # The key again, now under the lock: an attempt with it that committed
                # while this one waited is the key's answer, never this refusal.
                existing = _existing_entry(account_id, key)
                if existing is None:
                    raise
                return _replay_entry(existing, amount=amount, kind=kind)
            entry = _post(row, amount=amount, kind=kind, idempotency_key=key, **entry_fields)
            if after_post is not None:
                after_post(row)
    except IntegrityError:
        existing = _existing_entry(account_id, key)
        if existing is None:
            raise
        return _replay_entry(existing, amount=amount, kind=kind)
    return Booking(entry=entry, figures=figures_from_row(row, row.account))


_SPEND_SQL = f"""
WITH l AS (
    SELECT b.account_id, b.balance, b.unbilled, b.reserved, b.billed_until,
           a.currency, a.payment_mode, a.credit_limit, a.credit_limit_scope, a.credit_status
    FROM ledger_balance b JOIN accounts_billingaccount a ON a.id = b.account_id
    WHERE b.account_id = %(account)s
    FOR NO KEY UPDATE
), u AS (
    UPDATE ledger_balance b
    SET balance = b.balance + %(amount)s, unbilled = b.unbilled + %(amount)s,
        entry_count = b.entry_count + 1, updated_at = %(now)s
    FROM l
    WHERE b.account_id = l.account_id
      AND COALESCE({usable_sql(balance="l", account="l")} >= -%(amount)s, TRUE)
      AND {spend_room_sql(balance="l")} > -%(amount)s
    RETURNING b.balance, b.unbilled, b.reserved
), e AS (
    INSERT INTO ledger_entry (account_id, amount, kind, description, period_start, period_end,
                              idempotency_key, created_at, bill_at, created_by_id)
    SELECT %(account)s, %(amount)s, %(kind)s, %(description)s, %(period_start)s,
           %(period_end)s, %(key)s, %(now)s, GREATEST(%(natural)s, l.billed_until),
           %(created_by)s
    FROM u CROSS JOIN l
    RETURNING id, bill_at
)
SELECT e.id, e.bill_at, u.balance, u.unbilled, u.reserved, l.currency, l.payment_mode,
       l.credit_limit, l.credit_limit_scope, l.credit_status
FROM e, u, l
"""  # noqa: S608 - only the rule's own constants are interpolated


def _spend_in_one_statement(
    *,
    account_id,
    key,
    amount,
    kind,
    description="",
    period_start=None,
    period_end=None,
    created_by=None,
) -> Booking | None:
    """Decide, book and (outside a transaction) commit a spend in one round trip.

    The row lock is then held for one statement instead of three round trips, which is
    what a hot account's throughput depends on. The decision is `usable_sql` and
    `spend_room_sql`, the SQL renderings of `usable_amount` and `spend_room`. Returns None
    when nothing was booked (refused, unknown account, key used before): the caller's
    locked path then answers.
    """
    now = timezone.now()
    params = {
        "account": account_id,
        "amount": amount,
        "now": now,
        # GREATEST with the cut-off read under the lock: bill_at_for() in SQL.
        "natural": natural_bill_at(created_at=now, period_end=period_end),
        "kind": kind,
        "description": description,
        "period_start": period_start,
        "period_end": period_end,
        "key": key,
        "created_by": getattr(created_by, "pk", None),
    }
    # Outside a transaction the statement commits by itself (no COMMIT round trip while
    # the lock is held); inside one, a savepoint keeps a key clash from breaking it.
    scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with scope, connection.cursor() as cursor:
            cursor.execute(_SPEND_SQL, params)
            found = cursor.fetchone()
    except IntegrityError:
        return None  # the key was used: replayed by the caller
    if found is None:
        return None
    entry_id, bill_at, balance, unbilled, reserved, currency, mode, limit, scope, status = found
    account = BillingAccount(
        id=account_id,
        currency=currency,
        payment_mode=mode,
        credit_limit=limit,
        credit_limit_scope=scope,
        credit_status=status,
    )
    entry = Entry(
        id=entry_id,
        account=account,
        amount=amount,
        kind=kind,
        description=description,
        period_start=period_start,
        period_end=period_end,
        idempotency_key=key,
        created_at=now,
        bill_at=bill_at,
        created_by=created_by,
    )
    row = Balance(account=account, balance=balance, unbilled=unbilled, reserved=reserved)
    return Booking(entry=entry, figures=figures_from_row(row, account))


def _check_period(period_start: date | None, period_end: date | None) -> None:
    if period_start and period_end and period_start > period_end:
        raise InvalidInput("The service period ends before it starts.", field="period_end")


# -- spends ------------------------------------------------------------------------


def ledger_charge(
    *,
    account_id: int,
    amount,
    idempotency_key: str,
    description: str = "",
    kind: str = EntryKind.CHARGE,
    period_start: date | None = None,
    period_end: date | None = None,
    created_by=None,
) -> Booking:
    """Charge the account `amount` (> 0) if its payment mode allows it now."""
    amount = positive_amount(amount)
    key = _check_key(idempotency_key)
    if kind not in SPEND_KINDS:
        allowed = ", ".join(SPEND_KINDS)
        raise InvalidInput(f"A charge's kind is one of: {allowed}.", field="kind")
    _check_period(period_start, period_end)
    return _book_once(
        account_id=account_id,
        key=key,
        amount=-amount,
        kind=kind,
        check_usable=True,
        description=description[:500],
        period_start=period_start,
        period_end=period_end,
        created_by=created_by,
    )


def ledger_receive_payment(
    *,
    account_id: int,
    amount,
    idempotency_key: str,
    reference: str = "",
    created_by=None,
) -> Booking:
    """Book money received; it raises balance and usable at once and pays the oldest
    unpaid invoices first (an overpayment stays on the balance for later invoices)."""
    amount = positive_amount(amount)
    key = _check_key(idempotency_key)
    description = f"Payment received{f': {reference}' if reference else ''}"

    def pay_oldest_invoices_first(row: Balance) -> None:
        # Imported here: invoicing builds on the ledger, and this is the one place the
        # ledger hands money on to it, in the same transaction and under the same lock.
        from invoicing.services.lifecycle import allocate_money

        allocate_money(row, by=created_by)

    return _book_once(
        account_id=account_id,
        key=key,
        amount=amount,
        kind=EntryKind.PAYMENT,
        check_usable=False,
        after_post=pay_oldest_invoices_first,
        description=description[:500],
        created_by=created_by,
    )


# -- holds -------------------------------------------------------------------------


def _replay_reservation(reservation: Reservation, *, amount: Decimal) -> Booking:
    if reservation.amount != amount:
        raise IdempotencyConflict(
            "This idempotency key was already used for a hold of "
            f"{reservation.amount} {reservation.account.currency}.",
            field="idempotency_key",
        )
    row = Balance.objects.select_related("account").get(account_id=reservation.account_id)
    return Booking(
        entry=None,
        reservation=reservation,
        figures=figures_from_row(row, row.account),
        replayed=True,
    )


def ledger_reserve(
    *,
    account_id: int,
    amount,
    idempotency_key: str,
    description: str = "",
    expires_in: int | None = None,
    created_by=None,
) -> Booking:
    """Hold `amount` of usable funds until committed, released or expired."""
    amount = positive_amount(amount)
    key = _check_key(idempotency_key)
    seconds = DEFAULT_HOLD_SECONDS if expires_in is None else expires_in
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not (0 < seconds <= MAX_HOLD_SECONDS)
    ):
        raise InvalidInput(
            f"expires_in is a whole number of seconds between 1 and {MAX_HOLD_SECONDS}.",
            field="expires_in",
        )

    def existing():
        return (
            Reservation.objects.select_related("account")
            .filter(account_id=account_id, idempotency_key=key)
            .first()
        )

    found = existing()
    if found is not None:
        return _replay_reservation(found, amount=amount)
    try:
        with transaction.atomic():
            row = lock_books(account_id)
            try:
                _refuse_unless_usable(row, amount)
                _refuse_past_ceiling(row, amount=-amount, hold=True)
            except BOOKS_REFUSALS:
                # As in `_book_once`: a hold made with this key while this attempt waited
                # for the lock answers the key, not a refusal decided after it.
                found = existing()
                if found is None:
                    raise
                return _replay_reservation(found, amount=amount)
            reservation = Reservation.objects.create(
                account_id=account_id,
                amount=amount,
                description=description[:500],
                idempotency_key=key,
                expires_at=timezone.now() + timedelta(seconds=seconds),
                created_by=created_by,
            )
            row.reserved += amount
            row.save(update_fields=["reserved", "updated_at"])
    except IntegrityError:
        found = existing()
        if found is None:
            raise
        return _replay_reservation(found, amount=amount)
    return Booking(entry=None, reservation=reservation, figures=figures_from_row(row, row.account))


def _lock_reservation(reservation_id: int) -> tuple[Balance, Reservation]:
    account_id = (
        Reservation.objects.filter(pk=reservation_id).values_list("account_id", flat=True).first()
    )
    if account_id is None:
        raise NotFound(f"Reservation {reservation_id} does not exist.", field="reservation")
    row = lock_books(account_id)
    # Holds change state only under their account's lock, so this read is current.
    reservation = Reservation.objects.get(pk=reservation_id)
    return row, reservation


def _not_pending(reservation: Reservation, action: str) -> InvalidTransition:
    return InvalidTransition(
        f"Hold #{reservation.pk} is {reservation.status}; only a pending hold can be {action}.",
        field="reservation",
    )


def ledger_commit(*, reservation_id: int, amount=None, settled_by=None) -> Booking:
    """Turn a pending hold into a charge of `amount` (default: the whole hold).

    The hold already passed the spend check and the ceiling (which counts pending holds
    as spent), so committing within it never fails for funds or for the ceiling.
    Retrying a commit returns the first result; committing again with another amount is
    refused.
    """
    amount = None if amount is None else positive_amount(amount)
    with transaction.atomic():
        row, reservation = _lock_reservation(reservation_id)
        if reservation.status == ReservationStatus.COMMITTED:
            if amount is not None and amount != reservation.committed_amount:
                raise IdempotencyConflict(
                    f"Hold #{reservation.pk} was already committed for "
                    f"{reservation.committed_amount} {row.account.currency}.",
                    field="amount",
                )
            return Booking(
                entry=reservation.entry,
                reservation=reservation,
                figures=figures_from_row(row, row.account),
                replayed=True,
            )
        if reservation.status != ReservationStatus.PENDING:
            raise _not_pending(reservation, "committed")
        if reservation.expires_at <= timezone.now():
            raise InvalidTransition(
                f"Hold #{reservation.pk} expired at {reservation.expires_at:%Y-%m-%d %H:%M:%S %Z}"
                "; book the charge directly instead.",
                field="reservation",
            )
        final = reservation.amount if amount is None else amount
        if final > reservation.amount:
            raise InvalidInput(
                f"The commit amount {final} is more than the hold of {reservation.amount}.",
                field="amount",
            )
        reservation.commit(amount=final)
        reservation.settled_at = timezone.now()
        reservation.settled_by = settled_by
        reservation.save()
        entry = _post(
            row,
            amount=-final,
            kind=EntryKind.CHARGE,
            reserved_delta=-reservation.amount,
            description=reservation.description,
            idempotency_key=f"reservation:{reservation.pk}",
            reservation=reservation,
            created_by=settled_by,
        )
    return Booking(entry=entry, reservation=reservation, figures=figures_from_row(row, row.account))


def _end_hold(reservation_id: int, *, settled_by, expire: bool) -> Booking:
    with transaction.atomic():
        row, reservation = _lock_reservation(reservation_id)
        target = ReservationStatus.EXPIRED if expire else ReservationStatus.RELEASED
        if reservation.status == target:
            return Booking(
                entry=None,
                reservation=reservation,
                figures=figures_from_row(row, row.account),
                replayed=True,
            )
        if reservation.status != ReservationStatus.PENDING:
            raise _not_pending(reservation, "expired" if expire else "released")
        reservation.expire() if expire else reservation.release()
        reservation.settled_at = timezone.now()
        reservation.settled_by = settled_by
        reservation.save()
        row.reserved -= reservation.amount
        row.save(update_fields=["reserved", "updated_at"])
    return Booking(entry=None, reservation=reservation, figures=figures_from_row(row, row.account))


def ledger_release(*, reservation_id: int, settled_by=None) -> Booking:
    """Give a pending hold back to usable funds; releasing twice is harmless."""
    return _end_hold(reservation_id, settled_by=settled_by, expire=False)


def ledger_expire_reservations(*, now=None, limit: int | None = None) -> int:
    """Expire pending holds past their expiry; safe to run twice or concurrently."""
    now = now or timezone.now()
    due = (
        Reservation.objects.filter(status=ReservationStatus.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )
    if limit is not None:
        due = due[:limit]
    expired = 0
    for reservation_id in list(due):
        try:
            booking = _end_hold(reservation_id, settled_by=None, expire=True)
        except InvalidTransition:
            continue  # committed or released meanwhile
        expired += not booking.replayed
    return expired


def ensure_balance_row(account: BillingAccount) -> Balance:
    """Create the empty balance row of a new account (called by `account_create`)."""
    return Balance.objects.create(account=account)
