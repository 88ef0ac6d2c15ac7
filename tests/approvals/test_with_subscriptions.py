"""The whole loop with the subscriptions app: an order waits, a decision settles it.

Orders go through `subscription_order`, which calls the gate and opens the operation;
the decisions call back into subscriptions to provision or cancel what waits.
"""

import pytest

from approvals.exceptions import UNDER_REVIEW_MESSAGE, UnderReview
from approvals.models import ManualOperation
from approvals.services import manual_operation_approve, manual_operation_decline
from subscriptions.models import Subscription
from subscriptions.services import plan_create, subscription_order
from tests.factories import AccountFactory

from .conftest import permission_of, set_mode

pytestmark = pytest.mark.django_db


@pytest.fixture
def plans(db):
    return {
        "postpay": plan_create(
            code="cloud-pp",
            name="Cloud",
            price="30",
            currency="USD",
            charging="postpay",
            trial_days=14,
        ),
        "postpay2": plan_create(
            code="backup-pp", name="Backup", price="5", currency="USD", charging="postpay"
        ),
    }


@pytest.fixture
def account(manual):
    return AccountFactory(name="Waiting Co", payment_mode="postpaid")


def _order(account, code, *, trial=False):
    return subscription_order(account_id=account.pk, plan=code, trial=trial)


def _status(subscription):
    return Subscription.objects.values_list("status", flat=True).get(pk=subscription.pk)


def test_a_first_postpaid_order_waits_and_opens_an_operation(account, plans):
    subscription = _order(account, "cloud-pp")

    assert _status(subscription) == "pending_approval"
    operation = ManualOperation.objects.get(account=account)
    assert (operation.kind, operation.status) == ("allow_postpaid_subscriptions", "pending")
    assert permission_of(account) == "under_review"


def test_while_under_review_further_orders_are_refused_as_under_review(account, plans):
    _order(account, "cloud-pp")

    with pytest.raises(UnderReview) as refused:
        _order(account, "backup-pp")

    assert refused.value.detail == UNDER_REVIEW_MESSAGE
    assert Subscription.objects.filter(account=account).count() == 1


def test_trials_are_never_gated(account, plans):
    trial = _order(account, "cloud-pp", trial=True)

    assert _status(trial) == "active"
    assert not ManualOperation.objects.exists()
    assert permission_of(account) == "not_requested"


def test_approval_provisions_the_waiting_order_and_later_orders_pass(account, plans, manager):
    waiting = _order(account, "cloud-pp")
    operation = ManualOperation.objects.get(account=account)

    manual_operation_approve(operation_id=operation.pk, decided_by=manager)

    assert _status(waiting) == "active"
    later = _order(account, "backup-pp")
    assert _status(later) == "active"
    assert ManualOperation.objects.count() == 1


def test_decline_cancels_the_waiting_order_and_keeps_saying_under_review(account, plans, manager):
    waiting = _order(account, "cloud-pp")
    operation = ManualOperation.objects.get(account=account)

    manual_operation_decline(operation_id=operation.pk, comment="Risky", decided_by=manager)

    assert _status(waiting) == "cancelled"
    with pytest.raises(UnderReview) as refused:
        _order(account, "backup-pp")
    assert refused.value.detail == UNDER_REVIEW_MESSAGE
    assert "declin" not in refused.value.detail.lower()


def test_switching_to_automatic_mid_review_keeps_the_waiting_order_and_the_review(
    account, plans, manager
):
    waiting = _order(account, "cloud-pp")

    set_mode("automatic")

    assert _status(waiting) == "pending_approval"
    assert permission_of(account) == "under_review"
    assert _status(_order(account, "backup-pp")) == "active"  # automatic: nobody is reviewed
    # The manager can still decide what waited; the decision applies to it.
    operation = ManualOperation.objects.get(account=account)
    manual_operation_approve(operation_id=operation.pk, decided_by=manager)
    assert _status(waiting) == "active"


def test_a_failed_provisioning_rolls_the_whole_decision_back(account, plans, manager, monkeypatch):
    """One transaction: if subscriptions refuses, the operation stays pending."""
    import subscriptions.services as subscription_services
    from billing_site.exceptions import InvalidTransition

    _order(account, "cloud-pp")
    operation = ManualOperation.objects.get(account=account)

    def refuse(**kwargs):
        raise InvalidTransition("provisioning refused")

    monkeypatch.setattr(subscription_services, "subscriptions_provision_waiting", refuse)

    with pytest.raises(InvalidTransition):
        manual_operation_approve(operation_id=operation.pk, decided_by=manager)

    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"
    assert permission_of(account) == "under_review"
