"""Accounts under review reached through the services, and a record of the decisions'
calls into the subscriptions app."""

import importlib
import sys
import types

import pytest
from django.db import transaction

from approvals.services import manual_operation_open_postpaid, settings_update
from ledger.services import lock_books
from tests.factories import AccountFactory, staff_user

SEAM = ("subscriptions_provision_waiting", "subscriptions_cancel_waiting")


def open_review(account, requested_by=None):
    """What a subscription order does in manual mode: lock the books, open the operation."""
    with transaction.atomic():
        lock_books(account.pk)
        return manual_operation_open_postpaid(account_id=account.pk, requested_by=requested_by)


def set_mode(mode):
    return settings_update(changed_by=None, postpaid_permission_mode=mode)


@pytest.fixture(autouse=True)
def seam_calls(monkeypatch):
    """Every call the decisions make into `subscriptions.services`, in order.

    The real functions still run when the subscriptions app has them; until it does, the
    calls are only recorded.
    """
    calls = []
    try:
        module = importlib.import_module("subscriptions.services")
    except ModuleNotFoundError as exc:
        if exc.name != "subscriptions.services":
            raise
        module = types.ModuleType("subscriptions.services")
        monkeypatch.setitem(sys.modules, "subscriptions.services", module)
    for name in SEAM:
        real = getattr(module, name, None)

        def record(*, _name=name, _real=real, **kwargs):
            calls.append((_name, kwargs))
            return None if _real is None else _real(**kwargs)

        monkeypatch.setattr(module, name, record, raising=False)
    return calls


@pytest.fixture
def manager(db):
    return staff_user("Managers", username="manny")


@pytest.fixture
def clerk(db):
    return staff_user("Billing staff", username="clerk")


@pytest.fixture
def manual(db):
    return set_mode("manual")


@pytest.fixture
def postpaid_account(db):
    return AccountFactory(name="Postpaid Co", payment_mode="postpaid")


@pytest.fixture
def operation(manual, postpaid_account):
    """A pending "allow postpaid subscriptions" operation; its account is under review."""
    return open_review(postpaid_account)


def permission_of(account) -> str:
    """The account's postpaid permission as stored (protected FSM fields cannot refresh)."""
    from accounts.models import BillingAccount

    return BillingAccount.objects.values_list("postpaid_permission", flat=True).get(pk=account.pk)
