"""Approve and decline: final, by managers only, recorded, and handed to subscriptions."""

import pytest
from django.utils import timezone

from accounts.models import AccountStateChange
from approvals.exceptions import DecisionFinal
from approvals.models import ManualOperation
from approvals.services import (
    manual_operation_approve,
    manual_operation_decline,
    postpaid_order_gate,
)
from billing_site.exceptions import InvalidInput, NotFound, PermissionRefused
from tests.factories import AccountFactory

from .conftest import open_review, permission_of

pytestmark = pytest.mark.django_db


def _stored(operation):
    return ManualOperation.objects.select_related("account").get(pk=operation.pk)


def _snapshot(operation):
    op = _stored(operation)
    return (
        op.status,
        op.decided_by_id,
        op.decided_at,
        op.comment,
        op.account.postpaid_permission,
        AccountStateChange.objects.count(),
    )


def test_approving_allows_the_account_for_good_and_provisions_waiting_orders(
    operation, manager, seam_calls
):
    before = timezone.now()

    decided = manual_operation_approve(
        operation_id=operation.pk, comment="Known customer", decided_by=manager
    )

    stored = _stored(operation)
    assert (stored.status, stored.decided_by, stored.comment) == (
        "approved",
        manager,
        "Known customer",
    )
    assert stored.decided_at >= before
    assert decided.status == "approved"
    assert permission_of(operation.account) == "approved"
    log = AccountStateChange.objects.filter(field="postpaid_permission").first()
    assert (log.from_state, log.to_state, log.changed_by) == ("under_review", "approved", manager)
    assert f"#{operation.pk} approved" in log.reason and "Known customer" in log.reason
    assert seam_calls == [
        (
            "subscriptions_provision_waiting",
            {"account_id": operation.account_id, "provisioned_by": manager},
        )
    ]
    # Later postpaid orders pass without review.
    assert postpaid_order_gate(account=_stored(operation).account) == "pass"


def test_the_approval_comment_is_optional(operation, manager):
    manual_operation_approve(operation_id=operation.pk, decided_by=manager)

    assert _stored(operation).comment == ""


def test_declining_refuses_the_account_for_good_and_cancels_waiting_orders(
    operation, manager, seam_calls
):
    manual_operation_decline(
        operation_id=operation.pk, comment="  Bad history ", decided_by=manager
    )

    stored = _stored(operation)
    assert (stored.status, stored.decided_by, stored.comment) == (
        "declined",
        manager,
        "Bad history",
    )
    assert permission_of(operation.account) == "declined"
    log = AccountStateChange.objects.filter(field="postpaid_permission").first()
    assert (log.from_state, log.to_state) == ("under_review", "declined")
    [(name, kwargs)] = seam_calls
    assert name == "subscriptions_cancel_waiting"
    assert kwargs["account_id"] == operation.account_id
    assert kwargs["cancelled_by"] == manager
    assert kwargs["reason"]
    assert postpaid_order_gate(account=stored.account) == "refuse"


@pytest.mark.parametrize("comment", ["", "   ", None])
def test_declining_needs_a_comment(operation, manager, comment, seam_calls):
    before = _snapshot(operation)

    with pytest.raises(InvalidInput) as refused:
        manual_operation_decline(operation_id=operation.pk, comment=comment, decided_by=manager)

    assert refused.value.field == "comment"
    assert _snapshot(operation) == before
    assert seam_calls == []


def test_an_overlong_comment_is_refused(operation, manager):
    with pytest.raises(InvalidInput) as refused:
        manual_operation_approve(operation_id=operation.pk, comment="x" * 2001, decided_by=manager)

    assert refused.value.field == "comment"
    assert _stored(operation).status == "pending"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("approve", "approve"),
        ("approve", "decline"),
        ("decline", "approve"),
        ("decline", "decline"),
    ],
)
def test_a_decision_is_final(operation, manager, first, second, seam_calls):
    services = {"approve": manual_operation_approve, "decline": manual_operation_decline}
    services[first](operation_id=operation.pk, comment="first", decided_by=manager)
    after_first = _snapshot(operation)

    with pytest.raises(DecisionFinal) as refused:
        services[second](operation_id=operation.pk, comment="second", decided_by=manager)

    assert refused.value.code == "decision_final"
    assert "final" in refused.value.detail
    assert _snapshot(operation) == after_first
    assert len(seam_calls) == 1


def test_billing_staff_cannot_decide(operation, clerk, seam_calls):
    before = _snapshot(operation)

    with pytest.raises(PermissionRefused):
        manual_operation_approve(operation_id=operation.pk, decided_by=clerk)
    with pytest.raises(PermissionRefused):
        manual_operation_decline(operation_id=operation.pk, comment="no", decided_by=clerk)

    assert _snapshot(operation) == before
    assert seam_calls == []


def test_an_unknown_operation_is_not_found(manager):
    with pytest.raises(NotFound):
        manual_operation_approve(operation_id=999_999, decided_by=manager)


def test_deciding_one_account_leaves_the_others_waiting(manual, manager):
    first, second = AccountFactory(payment_mode="postpaid"), AccountFactory(payment_mode="postpaid")
    op1, op2 = open_review(first), open_review(second)

    manual_operation_decline(operation_id=op1.pk, comment="No", decided_by=manager)

    assert _stored(op2).status == "pending"
    assert permission_of(second) == "under_review"


def test_the_system_may_decide_without_a_user(operation):
    manual_operation_approve(operation_id=operation.pk, decided_by=None)

    stored = _stored(operation)
    assert (stored.status, stored.decided_by) == ("approved", None)
