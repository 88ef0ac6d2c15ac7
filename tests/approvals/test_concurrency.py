"""Races on one operation, with real threads on PostgreSQL: exactly one decision wins.

Each thread has its own connection, so the books lock and the operation's row lock are
what serialise them.
"""

import pytest
from django.contrib.auth.models import Permission

from approvals.exceptions import DecisionFinal
from approvals.models import ManualOperation
from approvals.services import (
    manual_operation_approve,
    manual_operation_decline,
    settings_update,
)
from tests.factories import AccountFactory, UserFactory
from tests.ledger.test_concurrency import run_in_threads

from .conftest import open_review, permission_of

pytestmark = [pytest.mark.django_db(transaction=True)]


def _decider(n):
    # Permissions, not groups: a transactional test's flush drops migration-made groups.
    user = UserFactory(username=f"manager{n}", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="decide_manualoperation"))
    return user


def test_concurrent_decisions_on_one_operation_leave_exactly_one(seam_calls):
    settings_update(changed_by=None, postpaid_permission_mode="manual")
    account = AccountFactory(payment_mode="postpaid")
    operation = open_review(account)
    deciders = [_decider(n) for n in range(8)]

    def decide(n):
        try:
            if n % 2:
                manual_operation_decline(
                    operation_id=operation.pk, comment=f"no {n}", decided_by=deciders[n]
                )
            else:
                manual_operation_approve(
                    operation_id=operation.pk, comment=f"yes {n}", decided_by=deciders[n]
                )
        except DecisionFinal:
            return "final"
        return "decided"

    outcomes = run_in_threads(8, decide)

    assert sorted(outcomes) == ["decided"] + ["final"] * 7
    stored = ManualOperation.objects.get(pk=operation.pk)
    assert permission_of(account) == stored.status
    assert stored.comment.endswith(str(deciders.index(stored.decided_by)))
    assert len(seam_calls) == 1


def test_concurrent_orders_open_one_operation(seam_calls):
    settings_update(changed_by=None, postpaid_permission_mode="manual")
    account = AccountFactory(payment_mode="postpaid")

    operations = run_in_threads(8, lambda n: open_review(account).pk)

    assert len(set(operations)) == 1
    assert ManualOperation.objects.filter(account=account).count() == 1
    assert permission_of(account) == "under_review"
