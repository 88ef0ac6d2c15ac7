"""The database keeps decisions final whoever writes (migration 0002), and its
constraints keep the queue consistent. Each refused statement runs in its own
savepoint so the test transaction survives it."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import BillingAccount
from approvals.models import ManualOperation, SystemSettings
from approvals.services import manual_operation_approve, manual_operation_decline

from .conftest import open_review, permission_of

pytestmark = pytest.mark.django_db

FINAL = "decision final"


@pytest.fixture(params=["approved", "declined"])
def decided(request, operation, manager):
    if request.param == "approved":
        manual_operation_approve(operation_id=operation.pk, comment="ok", decided_by=manager)
    else:
        manual_operation_decline(operation_id=operation.pk, comment="no", decided_by=manager)
    return ManualOperation.objects.get(pk=operation.pk)


def _refused(match=FINAL):
    return pytest.raises((IntegrityError, DatabaseError), match=match)


def _unchanged(decided):
    stored = ManualOperation.objects.get(pk=decided.pk)
    assert (stored.status, stored.comment, stored.decided_at) == (
        decided.status,
        decided.comment,
        decided.decided_at,
    )
    assert permission_of(decided.account) == decided.status


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "pending", "decided_at": None},
        {"comment": "rewritten"},
        {"decided_by": None},
        {"decided_at": timezone.now()},
    ],
)
def test_a_decided_operation_cannot_be_updated(decided, changes):
    with _refused(), transaction.atomic():
        ManualOperation.objects.filter(pk=decided.pk).update(**changes)

    _unchanged(decided)


def test_a_decided_operation_cannot_be_deleted(decided):
    with _refused(), transaction.atomic():
        ManualOperation.objects.filter(pk=decided.pk).delete()

    _unchanged(decided)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE approvals_manualoperation SET status = 'pending', decided_at = NULL WHERE id = %s",
        "UPDATE approvals_manualoperation SET comment = 'x' WHERE id = %s",
        "DELETE FROM approvals_manualoperation WHERE id = %s",
    ],
)
def test_raw_sql_cannot_touch_a_decided_operation(decided, sql):
    with _refused(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [decided.pk])

    _unchanged(decided)


def test_a_decided_postpaid_permission_cannot_change(decided):
    others = {"not_requested", "under_review", "approved", "declined"} - {decided.status}

    for to in sorted(others):
        with _refused(), transaction.atomic():
            BillingAccount.objects.filter(pk=decided.account_id).update(postpaid_permission=to)

    _unchanged(decided)


def test_raw_sql_cannot_change_a_decided_permission(decided):
    with _refused(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_billingaccount SET postpaid_permission = 'not_requested' "
            "WHERE id = %s",
            [decided.account_id],
        )

    _unchanged(decided)


def test_a_decided_account_still_changes_its_other_columns(decided):
    BillingAccount.objects.filter(pk=decided.account_id).update(
        payment_term_days=30, postpaid_permission=decided.status
    )

    assert BillingAccount.objects.get(pk=decided.account_id).payment_term_days == 30
    _unchanged(decided)


def test_undecided_rows_are_not_frozen(operation):
    """The triggers fire only on decided rows: a pending operation and an account under
    review are ordinary rows (the services move them)."""
    ManualOperation.objects.filter(pk=operation.pk).update(comment="note")
    BillingAccount.objects.filter(pk=operation.account_id).update(
        postpaid_permission="not_requested"
    )

    assert ManualOperation.objects.get(pk=operation.pk).comment == "note"
    assert permission_of(operation.account) == "not_requested"


def test_a_pending_operation_cannot_carry_a_decision_date(operation):
    with pytest.raises(IntegrityError), transaction.atomic():
        ManualOperation.objects.filter(pk=operation.pk).update(decided_at=timezone.now())


def test_a_decided_operation_needs_a_decision_date(operation):
    with pytest.raises(IntegrityError), transaction.atomic():
        ManualOperation.objects.filter(pk=operation.pk).update(status="approved")

    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"


def test_one_pending_operation_per_account_and_kind(operation):
    with pytest.raises(IntegrityError), transaction.atomic():
        ManualOperation.objects.create(kind=operation.kind, account_id=operation.account_id)

    assert ManualOperation.objects.filter(account_id=operation.account_id).count() == 1


def test_an_unknown_kind_is_refused(postpaid_account):
    with pytest.raises(IntegrityError), transaction.atomic():
        ManualOperation.objects.create(kind="launch_rockets", account=postpaid_account)


def test_a_decided_account_can_have_no_new_pending_operation_for_it(decided, manager):
    """The rows allow it (history may hold many decided ones), the service does not."""
    from billing_site.exceptions import InvalidTransition

    with pytest.raises(InvalidTransition):
        open_review(decided.account)


@pytest.mark.parametrize(
    "changes",
    [
        {"postpaid_permission_mode": "sometimes"},
        {"default_payment_term_days": 366},
        {"due_reminder_days": 61},
    ],
)
def test_settings_out_of_range_are_refused_by_the_database(manual, changes):
    with pytest.raises(IntegrityError), transaction.atomic():
        SystemSettings.objects.filter(pk=1).update(**changes)
