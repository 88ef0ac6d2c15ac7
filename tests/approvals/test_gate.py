"""The gate on postpaid commercial orders and the operation an order opens (the seam
the subscriptions app calls)."""

import pytest

from accounts.models import AccountStateChange, BillingAccount
from approvals.exceptions import UNDER_REVIEW_MESSAGE, DecisionFinal, UnderReview
from approvals.models import ManualOperation
from approvals.services import (
    manual_operation_approve,
    manual_operation_decline,
    postpaid_order_gate,
)
from billing_site.exceptions import InvalidTransition, PermissionRefused
from tests.factories import AccountFactory, UserFactory

from .conftest import open_review, permission_of, set_mode

pytestmark = pytest.mark.django_db


def _account_in(state, manager):
    """An account whose postpaid permission reached `state` through the services."""
    set_mode("manual")
    account = AccountFactory(payment_mode="postpaid")
    if state != "not_requested":
        operation = open_review(account)
        if state == "approved":
            manual_operation_approve(operation_id=operation.pk, decided_by=manager)
        elif state == "declined":
            manual_operation_decline(operation_id=operation.pk, comment="No", decided_by=manager)
    assert permission_of(account) == state
    return BillingAccount.objects.get(pk=account.pk)


@pytest.mark.parametrize(
    ("state", "gate"),
    [
        ("not_requested", "review"),
        ("under_review", "refuse"),
        ("approved", "pass"),
        ("declined", "refuse"),
    ],
)
def test_manual_mode_reviews_the_first_order_and_refuses_while_not_approved(manager, state, gate):
    account = _account_in(state, manager)

    assert postpaid_order_gate(account=account) == gate


@pytest.mark.parametrize("state", ["not_requested", "under_review", "approved", "declined"])
def test_automatic_mode_lets_every_account_order(manager, state):
    account = _account_in(state, manager)
    set_mode("automatic")

    assert postpaid_order_gate(account=account) == "pass"


def test_the_gate_only_reads(manual, postpaid_account, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):  # the settings row
        assert postpaid_order_gate(account=postpaid_account) == "review"

    assert not ManualOperation.objects.exists()
    assert permission_of(postpaid_account) == "not_requested"


def test_an_order_puts_the_account_under_review_and_queues_an_operation(manual, postpaid_account):
    customer = UserFactory(username="customer")

    operation = open_review(postpaid_account, requested_by=customer)

    assert (operation.kind, operation.status) == ("allow_postpaid_subscriptions", "pending")
    assert (operation.account_id, operation.requested_by) == (postpaid_account.pk, customer)
    assert (operation.decided_by, operation.decided_at, operation.comment) == (None, None, "")
    assert permission_of(postpaid_account) == "under_review"
    assert operation.account.postpaid_permission == "under_review"
    log = AccountStateChange.objects.get(account=postpaid_account)
    assert (log.field, log.from_state, log.to_state) == (
        "postpaid_permission",
        "not_requested",
        "under_review",
    )
    assert log.changed_by == customer
    assert f"#{operation.pk}" in log.reason


def test_a_second_order_while_under_review_returns_the_same_operation(operation):
    again = open_review(operation.account)

    assert again.pk == operation.pk
    assert ManualOperation.objects.count() == 1
    assert AccountStateChange.objects.filter(field="postpaid_permission").count() == 1


@pytest.mark.parametrize("state", ["approved", "declined"])
def test_no_operation_opens_once_the_account_was_decided(manager, state):
    account = _account_in(state, manager)

    with pytest.raises(InvalidTransition):
        open_review(account)

    assert permission_of(account) == state
    assert ManualOperation.objects.filter(account=account).count() == 1


def test_under_review_is_a_403_that_never_reveals_a_decline():
    refused = UnderReview()

    assert isinstance(refused, PermissionRefused)
    assert refused.code == "under_review"
    assert refused.detail == UNDER_REVIEW_MESSAGE
    assert "declin" not in refused.detail.lower()


def test_decision_final_is_a_409_invalid_transition():
    refused = DecisionFinal("already decided")

    assert isinstance(refused, InvalidTransition)
    assert refused.code == "decision_final"
