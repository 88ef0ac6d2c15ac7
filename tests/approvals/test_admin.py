"""The queue, the decision history and the settings page in the admin."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from approvals.models import ManualOperation, SettingsChange
from approvals.services import manual_operation_approve, system_settings
from tests.factories import AccountFactory

from .conftest import open_review, permission_of

pytestmark = pytest.mark.django_db

QUEUE = "/admin/approvals/pendingmanualoperation/"
HISTORY = "/admin/approvals/manualoperation/"
SETTINGS = "/admin/approvals/systemsettings/"


def _item(operation):
    return f"{QUEUE}{operation.pk}/change/"


def _transition(operation, name):
    return f"{QUEUE}{operation.pk}/transition/{name}/"


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def as_clerk(client, clerk):
    client.force_login(clerk)
    return client


def _queued(names):
    """Operations for new postpaid accounts, a day apart, in the order given."""
    start = timezone.now() - timedelta(days=len(names) + 1)
    operations = []
    for n, name in enumerate(names):
        account = AccountFactory(name=name, payment_mode="postpaid")
        with time_machine.travel(start + timedelta(days=n), tick=False):
            operations.append(open_review(account))
    return operations


# -- the queue -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["as_manager", "as_clerk"])
def test_the_queue_lists_pending_operations_oldest_first(request, manual, manager, role):
    _, middle, _ = _queued(["Oldest Ltd", "Middle Ltd", "Newest Ltd"])
    manual_operation_approve(operation_id=middle.pk, decided_by=manager)
    client = request.getfixturevalue(role)

    page = client.get(QUEUE)

    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("Oldest Ltd") < html.index("Newest Ltd")
    assert "Middle Ltd" not in html
    assert "waiting for" in html.lower()


def test_the_queue_loads_with_a_bounded_number_of_queries(
    as_manager, manual, django_assert_max_num_queries
):
    _queued([f"Client {n}" for n in range(15)])

    with django_assert_max_num_queries(12):
        page = as_manager.get(QUEUE)

    assert page.content.decode().count('class="field-operation"') == 15


def test_a_manager_sees_the_decision_buttons(as_manager, operation):
    page = as_manager.get(_item(operation))

    assert page.status_code == 200
    html = page.content.decode()
    assert _transition(operation, "approve") in html
    assert _transition(operation, "decline") in html
    assert "Postpaid Co" in html
    assert 'name="_save"' not in html  # nothing on the page is edited


def test_billing_staff_read_the_operation_without_buttons(as_clerk, operation):
    page = as_clerk.get(_item(operation))

    assert page.status_code == 200
    html = page.content.decode()
    assert "/transition/" not in html
    assert "Only managers can approve or decline" in html


def test_a_manager_approves_with_a_comment_and_returns_to_the_queue(
    as_manager, operation, manager, seam_calls
):
    form = as_manager.get(_transition(operation, "approve"))
    assert form.status_code == 200
    assert b"Approving is final" in form.content

    response = as_manager.post(_transition(operation, "approve"), {"comment": "Known client"})

    assert response.status_code == 302
    assert response.url == QUEUE
    stored = ManualOperation.objects.get(pk=operation.pk)
    assert (stored.status, stored.decided_by, stored.comment) == (
        "approved",
        manager,
        "Known client",
    )
    assert permission_of(operation.account) == "approved"
    assert [name for name, _ in seam_calls] == ["subscriptions_provision_waiting"]
    queue = as_manager.get(QUEUE).content.decode()
    assert "approved" in queue  # the success message
    assert f"#{operation.pk} Allow" not in queue


def test_declining_from_the_admin_needs_a_comment(as_manager, operation):
    response = as_manager.post(_transition(operation, "decline"), {"comment": ""})

    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"

    response = as_manager.post(_transition(operation, "decline"), {"comment": "Fraud risk"})

    assert response.status_code == 302
    assert ManualOperation.objects.get(pk=operation.pk).status == "declined"
    assert permission_of(operation.account) == "declined"


def test_billing_staff_cannot_approve_by_posting_to_the_admin(as_clerk, operation, seam_calls):
    for name in ("approve", "decline"):
        assert as_clerk.get(_transition(operation, name)).status_code == 403
        response = as_clerk.post(_transition(operation, name), {"comment": "sneaky"})
        assert response.status_code == 403

    # The FSM mixin's own button path, posted by hand.
    response = as_clerk.post(_item(operation), {"_fsm_transition_to": "approve"})
    assert response.status_code in (302, 403)

    stored = ManualOperation.objects.get(pk=operation.pk)
    assert (stored.status, stored.decided_by, stored.comment) == ("pending", None, "")
    assert permission_of(operation.account) == "under_review"
    assert seam_calls == []


def test_the_change_page_button_path_opens_the_comment_form(as_manager, operation):
    response = as_manager.post(_item(operation), {"_fsm_transition_to": "decline"})

    assert response.status_code == 302
    assert response.url == _transition(operation, "decline")
    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"


def test_a_decided_operation_left_the_queue_and_cannot_be_decided_again(
    as_manager, operation, manager
):
    manual_operation_approve(operation_id=operation.pk, comment="first", decided_by=manager)

    response = as_manager.post(_transition(operation, "decline"), {"comment": "second"})

    assert response.status_code == 302
    assert response.url == f"{HISTORY}{operation.pk}/change/"
    stored = ManualOperation.objects.get(pk=operation.pk)
    assert (stored.status, stored.comment) == ("approved", "first")
    assert as_manager.get(_item(operation)).status_code == 302


def test_a_decision_made_while_the_form_was_open_is_reported_not_overwritten(
    as_manager, operation, manager, monkeypatch
):
    """The form was loaded while pending; another manager decided before it was sent."""
    from approvals.admin import operations as queue_admin

    real_get_object = queue_admin.PendingManualOperationAdmin.get_object

    def stale_get_object(self, request, object_id, from_field=None):
        obj = real_get_object(self, request, object_id, from_field)
        manual_operation_approve(operation_id=operation.pk, comment="other", decided_by=manager)
        return obj

    monkeypatch.setattr(queue_admin.PendingManualOperationAdmin, "get_object", stale_get_object)

    response = as_manager.post(_transition(operation, "decline"), {"comment": "mine"})

    assert response.status_code == 200
    assert "a decision is final" in response.content.decode()
    stored = ManualOperation.objects.get(pk=operation.pk)
    assert (stored.status, stored.comment) == ("approved", "other")


# -- the history ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["as_manager", "as_clerk"])
def test_the_history_lists_every_operation_with_its_decision(request, manual, manager, role):
    first, _ = _queued(["First Ltd", "Second Ltd"])
    manual_operation_approve(operation_id=first.pk, comment="Trusted", decided_by=manager)
    client = request.getfixturevalue(role)

    page = client.get(HISTORY).content.decode()
    assert "First Ltd" in page and "Second Ltd" in page and "Trusted" in page

    approved_only = client.get(HISTORY, {"status__exact": "approved"}).content.decode()
    assert "First Ltd" in approved_only and "Second Ltd" not in approved_only

    found = client.get(HISTORY, {"q": "Second"}).content.decode()
    assert "Second Ltd" in found and "First Ltd" not in found

    detail = client.get(f"{HISTORY}{first.pk}/change/")
    assert detail.status_code == 200
    assert b"Final: it cannot be changed." in detail.content
    assert b'name="_save"' not in detail.content


def test_the_history_cannot_be_edited_or_deleted(as_manager, operation):
    response = as_manager.post(f"{HISTORY}{operation.pk}/change/", {"comment": "edited"})
    assert response.status_code == 403
    assert as_manager.get(f"{HISTORY}{operation.pk}/delete/").status_code == 403
    assert ManualOperation.objects.get(pk=operation.pk).comment == ""


# -- the settings page -----------------------------------------------------------------


def _settings_form(**overrides):
    values = {
        "postpaid_permission_mode": "automatic",
        "external_invoicing": "",
        "default_payment_term_days": "14",
        "due_reminder_days": "3",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v != ""}


@pytest.mark.parametrize("role", ["as_manager", "as_clerk"])
def test_the_settings_page_loads_for_both_roles(request, role):
    client = request.getfixturevalue(role)

    page = client.get(SETTINGS)

    assert page.status_code == 200
    assert b"Allow an account to order a postpaid subscription" in page.content
    assert b"Recent changes" in page.content


def test_a_manager_switches_to_manual_through_the_settings_page(as_manager, manager):
    response = as_manager.post(SETTINGS, _settings_form(postpaid_permission_mode="manual"))

    assert response.status_code == 302
    assert system_settings().postpaid_permission_mode == "manual"
    change = SettingsChange.objects.get()
    assert (change.field, change.to_value, change.changed_by) == (
        "postpaid_permission_mode",
        "manual",
        manager,
    )
    assert "automatic → manual" in as_manager.get(SETTINGS).content.decode()


def test_a_bad_value_on_the_settings_page_is_shown_on_its_field(as_manager):
    response = as_manager.post(SETTINGS, _settings_form(due_reminder_days="90"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "form-row errors field-due_reminder_days" in html
    assert "from 0 to 60" in html
    assert system_settings().due_reminder_days == 3
    assert not SettingsChange.objects.exists()


def test_billing_staff_cannot_change_settings_in_the_admin(as_clerk):
    page = as_clerk.get(SETTINGS)
    assert b'name="_save"' not in page.content

    response = as_clerk.post(SETTINGS, _settings_form(postpaid_permission_mode="manual"))

    assert response.status_code == 403
    assert system_settings().postpaid_permission_mode == "automatic"


def test_the_settings_change_log_is_read_only(as_manager):
    as_manager.post(SETTINGS, _settings_form(external_invoicing="on"))

    page = as_manager.get("/admin/approvals/settingschange/")

    assert page.status_code == 200
    assert b"external_invoicing" in page.content
    assert b"false \xe2\x86\x92 true" in page.content
    assert as_manager.get("/admin/approvals/settingschange/add/").status_code == 403
