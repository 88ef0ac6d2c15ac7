"""Reads of manual operations and settings for the admin and the API."""

from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet

from .models import ManualOperation, OperationStatus, SettingsChange, SystemSettings

RECENT_SETTINGS_CHANGES = 10


def manual_operations(*, status: str | None = None, kind: str | None = None) -> QuerySet:
    """Operations with what their lists show, oldest first (the queue's order)."""
    operations = ManualOperation.objects.select_related(
        "account__client", "requested_by", "decided_by"
    ).order_by("created_at", "id")
    if status:
        operations = operations.filter(status=status)
    if kind:
        operations = operations.filter(kind=kind)
    return operations


def pending_operations() -> QuerySet:
    return manual_operations(status=OperationStatus.PENDING)


def pending_operation_count() -> int:
    return ManualOperation.objects.filter(status=OperationStatus.PENDING).count()


def recent_settings_changes(limit: int = RECENT_SETTINGS_CHANGES) -> list[SettingsChange]:
    return list(SettingsChange.objects.select_related("changed_by")[:limit])


def waiting_orders(account_id: int) -> list:
    """The account's subscriptions that wait for its postpaid decision, oldest first."""
    from subscriptions.models import Subscription, SubscriptionStatus

    return list(
        Subscription.objects.filter(
            account_id=account_id, status=SubscriptionStatus.PENDING_APPROVAL
        )
        .select_related("plan", "account", "ordered_by")
        .order_by("created_at", "id")
    )


def setting_label(field: str) -> str:
    """A setting's name as the settings page shows it (its verbose name)."""
    try:
        return str(SystemSettings._meta.get_field(field).verbose_name)
    except FieldDoesNotExist:  # a setting since removed: show its name
        return field
