"""Every write to clients and accounts (docs/design.md §1)."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django_fsm import TransitionNotAllowed

from billing_site.exceptions import InvalidInput, InvalidTransition, NotFound
from billing_site.money import InvalidAmount, is_known_currency, to_ledger_amount
from ledger.services import ensure_balance_row, lock_books

from .exceptions import InvalidModeChange
from .models import (
    AccountStateChange,
    BillingAccount,
    Client,
    ClientUser,
    CreditLimitScope,
    CreditStatus,
    PaymentMode,
    PaymentModeChange,
)

MAX_PAYMENT_TERM_DAYS = 365


def _clean_mode(payment_mode, credit_limit, credit_limit_scope):
    """Validate a mode with its limit and scope; return them normalised."""
    if payment_mode not in PaymentMode.values:
        raise InvalidModeChange(
            f"payment_mode is one of: {', '.join(PaymentMode.values)}.", field="payment_mode"
        )
    if credit_limit_scope not in CreditLimitScope.values:
        raise InvalidModeChange(
            f"credit_limit_scope is one of: {', '.join(CreditLimitScope.values)}.",
            field="credit_limit_scope",
        )
    if credit_limit is not None:
        try:
            credit_limit = to_ledger_amount(credit_limit)
        except InvalidAmount as exc:
            raise InvalidModeChange(str(exc), field="credit_limit") from exc
    if payment_mode == PaymentMode.CREDIT_LIMIT:
        if credit_limit is None or credit_limit <= 0:
            raise InvalidModeChange(
                "A credit-limit account needs a credit limit greater than zero; with no "
                "limit it could not transact at all.",
                field="credit_limit",
            )
    elif credit_limit is not None:
        raise InvalidModeChange(
            f"A credit limit applies only in credit_limit mode, not in {payment_mode} mode.",
            field="credit_limit",
        )
    return payment_mode, credit_limit, credit_limit_scope


def _clean_term(payment_term_days) -> int:
    if (
        isinstance(payment_term_days, bool)
        or not isinstance(payment_term_days, int)
        or not (0 <= payment_term_days <= MAX_PAYMENT_TERM_DAYS)
    ):
        raise InvalidInput(
            f"payment_term_days is a whole number of days from 0 to {MAX_PAYMENT_TERM_DAYS}.",
            field="payment_term_days",
        )
    return payment_term_days


@transaction.atomic
def account_create(
    *,
    name: str,
    email: str,
    currency: str,
    payment_mode: str = PaymentMode.PREPAID,
    credit_limit=None,
    credit_limit_scope: str = CreditLimitScope.TOTAL_DEBT,
    payment_term_days: int | None = None,
    created_by=None,
) -> BillingAccount:
    """Create a client with its billing account and empty books.

    Every account is born prepaid; creating it in another mode is recorded as a
    conversion so the history shows who granted credit.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput("The client needs a name.", field="name")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"{email!r} is not a valid email address.", field="email") from None
    currency = (currency or "").strip()
    if not is_known_currency(currency):
        raise InvalidInput(
            f"{currency!r} is not an ISO 4217 currency code (like USD or EUR).", field="currency"
        )
    payment_mode, credit_limit, credit_limit_scope = _clean_mode(
        payment_mode, credit_limit, credit_limit_scope
    )
    if payment_term_days is None:
        # Imported here: approvals builds on accounts.
        from approvals.services import system_settings

        payment_term_days = system_settings().default_payment_term_days
    payment_term_days = _clean_term(payment_term_days)

    client = Client.objects.create(name=name[:200], email=email)
    account = BillingAccount.objects.create(
        client=client,
        currency=currency,
        payment_mode=payment_mode,
        credit_limit=credit_limit,
        credit_limit_scope=credit_limit_scope,
        payment_term_days=payment_term_days,
    )
    ensure_balance_row(account)
    if payment_mode != PaymentMode.PREPAID:
        PaymentModeChange.objects.create(
            account=account,
            changed_by=created_by,
            from_mode=PaymentMode.PREPAID,
            to_mode=payment_mode,
            from_credit_limit=None,
            to_credit_limit=credit_limit,
            from_scope=CreditLimitScope.TOTAL_DEBT,
            to_scope=credit_limit_scope,
            balance_at_change=Decimal(0),
            reason="Account created in this mode.",
        )
    return account


def account_convert_mode(
    *,
    account_id: int,
    payment_mode: str,
    reason: str,
    credit_limit=None,
    credit_limit_scope: str | None = None,
    changed_by=None,
) -> BillingAccount:
    """Switch an account's payment mode now, recording who, when, from, to and why.

    Takes the books lock so no spend is decided half under the old mode. Disabling
    postpaid with a negative balance keeps the debt: the account is then prepaid with a
    negative balance, so its usable amount is negative and it cannot spend until it is
    topped up. Converting a credit account to any other mode drops its limit.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidModeChange("Say why the payment mode changes.", field="reason")
    with transaction.atomic():
        row = lock_books(account_id)
        account = row.account
        scope = credit_limit_scope or account.credit_limit_scope
        payment_mode, credit_limit, scope = _clean_mode(payment_mode, credit_limit, scope)
        if payment_mode != PaymentMode.CREDIT_LIMIT:
            scope = CreditLimitScope.TOTAL_DEBT
        before = (account.payment_mode, account.credit_limit, account.credit_limit_scope)
        if before == (payment_mode, credit_limit, scope):
            return account  # nothing changes; nothing to record
        PaymentModeChange.objects.create(
            account=account,
            changed_by=changed_by,
            from_mode=before[0],
            to_mode=payment_mode,
            from_credit_limit=before[1],
            to_credit_limit=credit_limit,
            from_scope=before[2],
            to_scope=scope,
            balance_at_change=row.balance,
            reason=reason,
        )
        account.payment_mode = payment_mode
        account.credit_limit = credit_limit
        account.credit_limit_scope = scope
        account.save(update_fields=["payment_mode", "credit_limit", "credit_limit_scope"])
    return account


def _record_state(account, field, before, reason, by):
    AccountStateChange.objects.create(
        account=account,
        field=field,
        from_state=before,
        to_state=getattr(account, field),
        changed_by=by,
        reason=reason,
    )


CREDIT_BLOCK_FIELDS = ["credit_status", "credit_blocked_by_overdue", "credit_block_reason"]


def _clean_reason(reason) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why: it is kept in the history.", field="reason")
    return reason


def _move_credit_status(account_id, *, move, refusal, reason, changed_by):
    """Move the locked account's credit status with `move` (its transition), record who,
    when and why, and tell the client."""
    with transaction.atomic():
        account = lock_books(account_id).account
        before = account.credit_status
        try:
            move(account)
        except TransitionNotAllowed:
            raise InvalidTransition(refusal, field="credit_status") from None
        account.save(update_fields=CREDIT_BLOCK_FIELDS)
        _record_state(account, "credit_status", before, reason, changed_by)
        # Imported here: notifications renders accounts through the API's serializers.
        from notifications.services import account_event

        blocked = account.credit_status == CreditStatus.BLOCKED
        account_event("credit.blocked" if blocked else "credit.unblocked", account)
    return account


def account_block_credit(
    *, account_id: int, reason: str, changed_by=None, by_overdue: bool = False
) -> BillingAccount:
    """Block a credit-limit account's credit: it may then spend only its own funds.

    `reason` is recorded on the account too: every refusal, notification and portal
    notice gives it to the client while the block lasts. `by_overdue` marks the overdue
    rule's blocks, which lift by themselves once no overdue invoice is left; a block set
    by staff stays until staff lifts it.
    """
    reason = _clean_reason(reason)
    return _move_credit_status(
        account_id,
        move=lambda account: account.block_credit(reason=reason, by_overdue=by_overdue),
        refusal="Only the active credit of a credit-limit account can be blocked.",
        reason=reason,
        changed_by=changed_by,
    )


def account_restate_credit_block(*, account_id: int, reason: str) -> BillingAccount:
    """Bring a block's recorded reason up to date without moving the credit status.

    The overdue rule's block outlives the invoice it named when another invoice is still
    overdue: the client is then told about that one, never about an invoice it paid.
    """
    reason = _clean_reason(reason)
    with transaction.atomic():
        account = lock_books(account_id).account
        if account.credit_status == CreditStatus.BLOCKED and account.credit_block_reason != reason:
            account.credit_block_reason = reason
            account.save(update_fields=["credit_block_reason"])
    return account


def account_unblock_credit(*, account_id: int, reason: str, changed_by=None) -> BillingAccount:
    return _move_credit_status(
        account_id,
        move=lambda account: account.unblock_credit(),
        refusal="The credit is not blocked.",
        reason=_clean_reason(reason),
        changed_by=changed_by,
    )


def client_add_user(*, client_id: int, username: str, email: str, password: str):
    """Create a portal login for a client; Django's password validators apply."""
    User = get_user_model()
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        raise NotFound(f"Client {client_id} does not exist.", field="client")
    username = (username or "").strip()
    if not username:
        raise InvalidInput("A username is required.", field="username")
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="username") from None
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput(f"{email!r} is not a valid email address.", field="email") from None
    candidate = User(username=username, email=email or "")
    try:
        validate_password(password or "", user=candidate)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="password") from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email or "", password=password)
            ClientUser.objects.create(user=user, client=client)
    except IntegrityError:
        raise InvalidInput(f"The username {username!r} is taken.", field="username") from None
    return user
