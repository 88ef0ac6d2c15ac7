"""Orders and the postpaid permission (docs/design.md §5), through the approvals app's services."""

from datetime import date

import pytest

from accounts.models import BillingAccount
from approvals.exceptions import UnderReview
from approvals.models import ManualOperation
from approvals.services import (
    manual_operation_approve,
    manual_operation_decline,
    settings_update,
)
from ledger.models import Entry
from subscriptions.models import Subscription, SubscriptionStatusChange
from tests.api.conftest import client_for, new_key
from tests.factories import AccountFactory, staff_user

from .helpers import fresh, on, order, renew, renewals

pytestmark = pytest.mark.django_db


@pytest.fixture
def manual(db):
    return settings_update(changed_by=None, postpaid_permission_mode="manual")


@pytest.fixture
def manager(db):
    return staff_user("Managers")


@pytest.fixture
def account(manual):
    with on("2026-07-01", hour=1):
        return AccountFactory(payment_mode="postpaid")


def permission(account) -> str:
    return BillingAccount.objects.values_list("postpaid_permission", flat=True).get(pk=account.pk)


def operation_of(account) -> ManualOperation:
    return ManualOperation.objects.get(account=account)


def test_a_trial_ordered_in_manual_mode_passes_without_review(account, metered):
    trial = order(account, metered, "2026-07-01", trial=True)
    assert trial.status == "active"
    assert permission(account) == "not_requested"
    assert not ManualOperation.objects.exists()


def test_the_first_commercial_postpay_order_waits_and_nothing_is_billed(account, metered):
    waiting = order(account, metered, "2026-07-01")
    assert waiting.status == "pending_approval"
    assert permission(account) == "under_review"
    assert operation_of(account).status == "pending"
    assert renew("2026-08-01") == 0
    assert not Entry.objects.filter(account=account).exists()


def test_approval_starts_the_waiting_order_from_that_day(account, metered, manager):
    waiting = order(account, metered, "2026-07-01")
    with on("2026-07-11"):
        manual_operation_approve(operation_id=operation_of(account).pk, decided_by=manager)

    started = fresh(waiting)
    assert (started.status, started.paid_until) == ("active", date(2026, 7, 10))
    log = SubscriptionStatusChange.objects.filter(subscription=waiting).first()
    assert (log.from_status, log.to_status, log.changed_by) == (
        "pending_approval",
        "active",
        manager,
    )
    renew("2026-08-01")
    assert [r[1:] for r in renewals(account)] == [(date(2026, 7, 11), date(2026, 7, 31))]


def test_a_second_postpay_order_of_an_approved_account_passes_without_review(
    account, metered, metered_plus, manager
):
    order(account, metered, "2026-07-01")
    manual_operation_approve(operation_id=operation_of(account).pk, decided_by=manager)

    second = order(account, metered_plus, "2026-07-02")
    assert second.status == "active"
    assert ManualOperation.objects.filter(account=account).count() == 1


def test_while_under_review_another_postpay_order_is_refused(account, metered, metered_plus):
    order(account, metered, "2026-07-01")
    with pytest.raises(UnderReview):
        order(account, metered_plus, "2026-07-02")
    assert Subscription.objects.filter(account=account).count() == 1


def test_prepay_plans_are_never_gated(account, metered, basic):
    order(account, metered, "2026-07-01")  # under review now
    assert order(account, basic, "2026-07-02").status == "active"


def test_a_declined_account_has_its_order_cancelled_and_new_ones_refused(
    account, metered, metered_plus, manager
):
    waiting = order(account, metered, "2026-07-01")
    manual_operation_decline(
        operation_id=operation_of(account).pk, comment="Bad references", decided_by=manager
    )
    assert fresh(waiting).status == "cancelled"

    with pytest.raises(UnderReview) as refused:
        order(account, metered_plus, "2026-07-02")
    assert "under review" in refused.value.detail
    assert "declin" not in refused.value.detail
    assert renew("2026-08-01") == 0


def test_a_declined_accounts_new_order_is_403_under_review_in_the_api(account, metered, manager):
    order(account, metered, "2026-07-01")
    manual_operation_decline(
        operation_id=operation_of(account).pk, comment="No", decided_by=manager
    )
    api = client_for(staff_user("Billing staff"))
    with on("2026-07-02"):
        response = api.post(
            f"/api/v1/accounts/{account.pk}/subscriptions/",
            {"plan": "metered"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=new_key(),
        )
    assert response.status_code == 403
    assert response.json()["error"] == "under_review"
    assert "declin" not in response.json()["detail"]


def test_a_trial_ending_in_manual_mode_waits_for_a_manager(account, metered, manager):
    trial = order(account, metered, "2026-07-01", trial=True)
    assert renew("2026-07-08") == 1
    waiting = fresh(trial)
    assert (waiting.status, waiting.is_trial) == ("pending_approval", False)
    assert permission(account) == "under_review"

    with on("2026-07-10"):
        manual_operation_approve(operation_id=operation_of(account).pk, decided_by=manager)
    renew("2026-08-01")
    # Billed from the approval, never for the trial or the wait.
    assert [r[1:] for r in renewals(account)] == [(date(2026, 7, 10), date(2026, 7, 31))]


def test_a_trial_ending_for_a_declined_account_is_suspended(
    account, metered, metered_plus, manager
):
    trial = order(account, metered, "2026-07-01", trial=True)
    order(account, metered_plus, "2026-07-01")  # the first commercial order waits
    manual_operation_decline(
        operation_id=operation_of(account).pk, comment="No", decided_by=manager
    )
    assert renew("2026-07-08") == 1
    ended = fresh(trial)
    assert (ended.status, ended.suspension_reason) == ("suspended", "not_allowed")


def test_staff_cannot_resume_a_subscription_the_account_is_not_approved_for(
    account, metered, metered_plus, manager
):
    from subscriptions.exceptions import SubscriptionStateError
    from subscriptions.services import subscription_resume

    trial = order(account, metered, "2026-07-01", trial=True)
    order(account, metered_plus, "2026-07-01")
    manual_operation_decline(
        operation_id=operation_of(account).pk, comment="No", decided_by=manager
    )
    renew("2026-07-08")
    with pytest.raises(SubscriptionStateError, match="not approved for postpaid"):
        subscription_resume(subscription_id=trial.pk, reason="Please", resumed_by=manager)
    assert fresh(trial).status == "suspended"
