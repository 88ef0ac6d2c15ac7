"""Every write to system settings and manual operations (docs/design.md §5).

Lock order, shared with the subscription order that opens an operation: the account's
books (`lock_books`) first, then the operation row. A decision reads the operation's
account without a lock (it never changes), locks the books, then the operation.
"""

from enum import StrEnum

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from accounts.models import AccountStateChange, BillingAccount, PostpaidPermission
from billing_site.exceptions import InvalidInput, InvalidTransition, NotFound, require_perm
from ledger.services import lock_books

from .exceptions import DecisionFinal
from .models import (
    DECIDE_PERMISSION,
    MAX_COMMENT_LENGTH,
    MAX_DUE_REMINDER_DAYS,
    MAX_PAYMENT_TERM_DAYS,
    ManualOperation,
    OperationKind,
    OperationStatus,
    PostpaidPermissionMode,
    SettingsChange,
    SystemSettings,
)

PERMISSION_FIELD = "postpaid_permission"


# -- system settings -----------------------------------------------------------------


def system_settings() -> SystemSettings:
    """The settings row (created with the defaults on first read)."""
    return SystemSettings.get_solo()


def _clean_mode(value):
    if value not in PostpaidPermissionMode.values:
        raise InvalidInput(
            f"postpaid_permission_mode is one of: {', '.join(PostpaidPermissionMode.values)}.",
            field="postpaid_permission_mode",
        )
    return str(value)


def _clean_bool(name):
    def clean(value):
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} is true or false.", field=name)
        return value

    return clean


def _clean_days(name, maximum):
    def clean(value):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            raise InvalidInput(f"{name} is a whole number of days from 0 to {maximum}.", field=name)
        return value

    return clean


SETTING_CLEANERS = {
    "postpaid_permission_mode": _clean_mode,
    "external_invoicing": _clean_bool("external_invoicing"),
    "default_payment_term_days": _clean_days("default_payment_term_days", MAX_PAYMENT_TERM_DAYS),
    "due_reminder_days": _clean_days("due_reminder_days", MAX_DUE_REMINDER_DAYS),
}


def settings_clean(**fields) -> dict:
    """Check new setting values without saving; refuse the first bad one, naming it."""
    for name in fields:
        if name not in SETTING_CLEANERS:
            raise InvalidInput(
                f"{name!r} is not a system setting; the settings are "
                f"{', '.join(SETTING_CLEANERS)}.",
                field=name,
            )
    return {name: SETTING_CLEANERS[name](value) for name, value in fields.items()}


def settings_update(*, changed_by, **fields) -> SystemSettings:
    """Change system settings, recording each changed value with who and when.

    Switching `postpaid_permission_mode` touches nothing else: accounts keep their
    postpaid permission (it applies again when the mode returns to manual), pending
    operations stay in the queue, subscriptions keep running.
    """
    require_perm(changed_by, "approvals.change_systemsettings", "change the system settings")
    cleaned = settings_clean(**fields)
    with transaction.atomic():
        system_settings()  # the row exists before it is locked
        current = SystemSettings.objects.select_for_update().get(
            pk=SystemSettings.singleton_instance_id
        )
        changed = [name for name, value in cleaned.items() if getattr(current, name) != value]
        for name in changed:
            SettingsChange.objects.create(
                changed_by=changed_by,
                field=name,
                from_value=_text(getattr(current, name)),
                to_value=_text(cleaned[name]),
            )
            setattr(current, name, cleaned[name])
        if changed:
            current.save(update_fields=[*changed, "updated_at"])
    return current


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- the gate on postpaid orders (called by subscriptions) ---------------------------


class OrderGate(StrEnum):
    PASS = "pass"  # order as usual  # noqa: S105 (not a password)
    REVIEW = "review"  # hold the order and open a manual operation
    REFUSE = "refuse"  # refuse with UnderReview (also after a decline: never reveal it)


def postpaid_order_gate(*, account: BillingAccount) -> str:
    """What to do with a commercial order of a postpay plan for this account. Reads only.

    Trials never come here: they are never gated. In automatic mode the permission is
    not consulted at all.
    """
    if system_settings().postpaid_permission_mode == PostpaidPermissionMode.AUTOMATIC:
        return OrderGate.PASS
    permission = account.postpaid_permission
    if permission == PostpaidPermission.APPROVED:
        return OrderGate.PASS
    if permission == PostpaidPermission.NOT_REQUESTED:
        return OrderGate.REVIEW
    return OrderGate.REFUSE


def manual_operation_open_postpaid(*, account_id: int, requested_by=None) -> ManualOperation:
    """Put the account under review and queue "allow postpaid subscriptions" for it.

    Runs inside the subscription order's transaction, after it took `lock_books`; a
    pending operation already there is returned unchanged. The account instance moved
    here is `operation.account`: the caller should not save an older copy of it.
    """
    with transaction.atomic():
        account = lock_books(account_id).account
        pending = (
            ManualOperation.objects.select_for_update()
            .filter(account=account, kind=OperationKind.ALLOW_POSTPAID)
            .filter(status=OperationStatus.PENDING)
            .first()
        )
        if pending is not None:
            return pending
        before = account.postpaid_permission
        try:
            account.request_postpaid_review()
        except TransitionNotAllowed:
            raise InvalidTransition(
                f"The account's postpaid permission is {before.replace('_', ' ')}; only an "
                "account that never asked can be put under review.",
                field=PERMISSION_FIELD,
            ) from None
        account.save(update_fields=[PERMISSION_FIELD])
        operation = ManualOperation.objects.create(
            kind=OperationKind.ALLOW_POSTPAID, account=account, requested_by=requested_by
        )
        _log_permission(
            account,
            before,
            by=requested_by,
            reason=f"First postpaid order; manual operation #{operation.pk} awaits a manager.",
        )
    return operation


def _log_permission(account, before, *, by, reason):
    AccountStateChange.objects.create(
        account=account,
        field=PERMISSION_FIELD,
        from_state=before,
        to_state=account.postpaid_permission,
        changed_by=by,
        reason=reason,
    )


# -- decisions -------------------------------------------------------------------------


def manual_operation_approve(
    *, operation_id: int, comment: str = "", decided_by
) -> ManualOperation:
    """Approve for good: the account may have postpaid subscriptions; waiting ones start."""
    return _decide(operation_id, "approve", comment=comment, decided_by=decided_by)


def manual_operation_decline(*, operation_id: int, comment: str, decided_by) -> ManualOperation:
    """Decline for good: waiting subscriptions are cancelled; the client sees "under review"."""
    return _decide(operation_id, "decline", comment=comment, decided_by=decided_by)


def _decide(operation_id, action, *, comment, decided_by) -> ManualOperation:
    require_perm(decided_by, DECIDE_PERMISSION, "approve or decline manual operations")
    comment = (comment or "").strip()
    if action == "decline" and not comment:
        raise InvalidInput(
            "Say why the operation is declined; the comment stays in the history "
            "(the client is not shown it).",
            field="comment",
        )
    if len(comment) > MAX_COMMENT_LENGTH:
        raise InvalidInput(
            f"The comment is longer than {MAX_COMMENT_LENGTH} characters.", field="comment"
        )
    with transaction.atomic():
        account_id = (
            ManualOperation.objects.filter(pk=operation_id)
            .values_list("account_id", flat=True)
            .first()
        )
        if account_id is None:
            raise NotFound(f"Manual operation {operation_id} does not exist.", field="operation")
        account = lock_books(account_id).account
        operation = ManualOperation.objects.select_for_update().get(pk=operation_id)
        if operation.status != OperationStatus.PENDING:
            raise _already_decided(operation)
        getattr(operation, action)(comment=comment, by=decided_by, when=timezone.now())
        operation.save()
        operation.account = account
        if operation.kind == OperationKind.ALLOW_POSTPAID:
            _decide_postpaid(operation, account, action, decided_by)
        _announce(operation)
    return operation


def _announce(operation) -> None:
    """manual_operation.decided to webhooks; the client is emailed only an approval."""
    from api.serializers.approvals import ManualOperationSerializer
    from notifications.models import EventType
    from notifications.services import event_record

    event_record(
        type=EventType.MANUAL_OPERATION_DECIDED,
        data=dict(ManualOperationSerializer(operation).data),
        account_id=operation.account_id if operation.status == OperationStatus.APPROVED else None,
    )


def _already_decided(operation) -> DecisionFinal:
    who = operation.decided_by or "the system"
    when = timezone.localtime(operation.decided_at).strftime("%Y-%m-%d %H:%M")
    return DecisionFinal(
        f"Manual operation #{operation.pk} was already {operation.status} by {who} on "
        f"{when}; a decision is final.",
        field="status",
    )


def _decide_postpaid(operation, account, action, decided_by):
    before = account.postpaid_permission
    try:
        getattr(account, f"{action}_postpaid")()
    except TransitionNotAllowed:
        if before in (PostpaidPermission.APPROVED, PostpaidPermission.DECLINED):
            raise DecisionFinal(
                f"The account's postpaid permission was already {before}; a decision is final.",
                field=PERMISSION_FIELD,
            ) from None
        raise InvalidTransition(
            f"The account's postpaid permission is {before.replace('_', ' ')}, not under "
            "review, so this operation cannot be decided.",
            field=PERMISSION_FIELD,
        ) from None
    account.save(update_fields=[PERMISSION_FIELD])
    verdict = "approved" if action == "approve" else "declined"
    reason = f"Manual operation #{operation.pk} {verdict}."
    if operation.comment:
        reason = f"{reason} {operation.comment}"
    _log_permission(account, before, by=decided_by, reason=reason)

    # Imported here: subscriptions calls into this module for its orders.
    from subscriptions.services import (
        subscriptions_cancel_waiting,
        subscriptions_provision_waiting,
    )

    if action == "approve":
        subscriptions_provision_waiting(account_id=account.pk, provisioned_by=decided_by)
    else:
        subscriptions_cancel_waiting(
            account_id=account.pk,
            cancelled_by=decided_by,
            reason=f"Postpaid permission declined (manual operation #{operation.pk}).",
        )
