"""System settings: one row, changed only through `settings_update`, every change logged."""

import pytest

from accounts.models import AccountStateChange, BillingAccount
from approvals.models import ManualOperation, SettingsChange, SystemSettings
from approvals.services import (
    manual_operation_approve,
    manual_operation_decline,
    postpaid_order_gate,
    settings_update,
    system_settings,
)
from billing_site.exceptions import InvalidInput, PermissionRefused
from tests.factories import AccountFactory, staff_user

from .conftest import open_review, permission_of, set_mode

pytestmark = pytest.mark.django_db


def test_settings_start_with_the_defaults():
    settings = system_settings()

    assert settings.postpaid_permission_mode == "automatic"
    assert settings.external_invoicing is False
    assert settings.default_payment_term_days == 14
    assert settings.due_reminder_days == 3
    assert SystemSettings.objects.count() == 1


def test_a_manager_changes_settings_and_each_change_is_logged(manager):
    updated = settings_update(
        changed_by=manager,
        postpaid_permission_mode="manual",
        external_invoicing=True,
        default_payment_term_days=30,
        due_reminder_days=3,  # unchanged: not logged
    )

    assert updated.postpaid_permission_mode == "manual"
    stored = SystemSettings.objects.get()
    assert (stored.external_invoicing, stored.default_payment_term_days) == (True, 30)
    logged = {
        (c.field, c.from_value, c.to_value, c.changed_by) for c in SettingsChange.objects.all()
    }
    assert logged == {
        ("postpaid_permission_mode", "automatic", "manual", manager),
        ("external_invoicing", "false", "true", manager),
        ("default_payment_term_days", "14", "30", manager),
    }


def test_setting_the_same_values_again_logs_nothing(manager):
    settings_update(changed_by=manager, due_reminder_days=3, postpaid_permission_mode="automatic")

    assert not SettingsChange.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"postpaid_permission_mode": "sometimes"}, "postpaid_permission_mode"),
        ({"postpaid_permission_mode": None}, "postpaid_permission_mode"),
        ({"external_invoicing": "yes"}, "external_invoicing"),
        ({"external_invoicing": 1}, "external_invoicing"),
        ({"default_payment_term_days": -1}, "default_payment_term_days"),
        ({"default_payment_term_days": 366}, "default_payment_term_days"),
        ({"default_payment_term_days": "14"}, "default_payment_term_days"),
        ({"default_payment_term_days": True}, "default_payment_term_days"),
        ({"due_reminder_days": 61}, "due_reminder_days"),
        ({"due_reminder_days": 2.5}, "due_reminder_days"),
        ({"colour": "blue"}, "colour"),
        # one bad value refuses the whole change, the good ones too
        ({"external_invoicing": True, "due_reminder_days": 99}, "due_reminder_days"),
    ],
)
def test_a_bad_setting_is_refused_naming_it_and_nothing_changes(manager, fields, field):
    with pytest.raises(InvalidInput) as refused:
        settings_update(changed_by=manager, **fields)

    assert refused.value.field == field
    assert field in refused.value.detail
    stored = system_settings()
    assert (stored.postpaid_permission_mode, stored.external_invoicing) == ("automatic", False)
    assert (stored.default_payment_term_days, stored.due_reminder_days) == (14, 3)
    assert not SettingsChange.objects.exists()


@pytest.mark.parametrize("value", [0, 365])
def test_payment_term_accepts_its_bounds(manager, value):
    returned = settings_update(changed_by=manager, default_payment_term_days=value)

    assert returned.default_payment_term_days == value
    assert system_settings().default_payment_term_days == value
    change = SettingsChange.objects.get()
    assert (change.field, change.from_value, change.to_value) == (
        "default_payment_term_days",
        "14",
        str(value),
    )
    assert change.changed_by == manager


def test_billing_staff_cannot_change_settings(clerk):
    with pytest.raises(PermissionRefused):
        settings_update(changed_by=clerk, postpaid_permission_mode="manual")

    assert system_settings().postpaid_permission_mode == "automatic"
    assert not SettingsChange.objects.exists()


def test_switching_the_mode_mid_review_keeps_under_review_and_the_pending_operation(manager):
    set_mode("manual")
    account = AccountFactory(payment_mode="postpaid")
    operation = open_review(account)

    settings_update(changed_by=manager, postpaid_permission_mode="automatic")

    assert permission_of(account) == "under_review"
    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"
    # automatic consults nothing
    assert postpaid_order_gate(account=BillingAccount.objects.get(pk=account.pk)) == "pass"

    settings_update(changed_by=manager, postpaid_permission_mode="manual")

    assert permission_of(account) == "under_review"
    assert postpaid_order_gate(account=BillingAccount.objects.get(pk=account.pk)) == "refuse"
    # The operation can still be decided after the round trip.
    manual_operation_approve(operation_id=operation.pk, decided_by=manager)
    assert permission_of(account) == "approved"


def test_switching_the_mode_keeps_every_accounts_status(manager):
    set_mode("manual")
    approved, declined, waiting, fresh = (AccountFactory(payment_mode="postpaid") for _ in "abcd")
    manual_operation_approve(operation_id=open_review(approved).pk, decided_by=manager)
    manual_operation_decline(
        operation_id=open_review(declined).pk, comment="Risky", decided_by=manager
    )
    open_review(waiting)
    before = dict(BillingAccount.objects.values_list("pk", "postpaid_permission"))
    log_rows = AccountStateChange.objects.count()

    for mode in ("automatic", "manual", "automatic"):
        settings_update(changed_by=manager, postpaid_permission_mode=mode)
        assert dict(BillingAccount.objects.values_list("pk", "postpaid_permission")) == before

    assert before[fresh.pk] == "not_requested"
    assert AccountStateChange.objects.count() == log_rows
    set_mode("manual")
    gates = [
        postpaid_order_gate(account=BillingAccount.objects.get(pk=a.pk))
        for a in (approved, declined, waiting, fresh)
    ]
    assert gates == ["pass", "refuse", "refuse", "review"]


def test_the_system_itself_may_change_settings():
    settings_update(changed_by=None, due_reminder_days=7)

    change = SettingsChange.objects.get()
    assert (change.field, change.changed_by) == ("due_reminder_days", None)


def test_a_superuser_may_change_settings():
    admin = staff_user(is_superuser=True)

    settings_update(changed_by=admin, external_invoicing=True)

    assert system_settings().external_invoicing is True
