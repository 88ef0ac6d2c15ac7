"""settings/ and manual-operations/ over the API (docs/design.md §6)."""

import uuid

import pytest

from accounts.services import client_add_user
from approvals.models import ManualOperation, SettingsChange
from approvals.services import manual_operation_approve, manual_operation_decline
from tests.api.conftest import client_for
from tests.factories import AccountFactory, UserFactory

from .conftest import open_review, permission_of

pytestmark = pytest.mark.django_db

SETTINGS = "/api/v1/settings/"
OPERATIONS = "/api/v1/manual-operations/"


def _decide_url(operation, action):
    return f"{OPERATIONS}{operation.pk}/{action}/"


@pytest.fixture
def manager_api(manager):
    return client_for(manager)


@pytest.fixture
def clerk_api(clerk):
    return client_for(clerk)


@pytest.fixture
def portal_api(operation):
    user = client_add_user(
        client_id=operation.account.client_id,
        username="portal-user",
        email="p@client.example",
        password="a long enough passphrase 42",
    )
    return client_for(user)


# -- settings/ -----------------------------------------------------------------------


def test_staff_read_the_settings(clerk_api):
    response = clerk_api.get(SETTINGS)

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in body if k != "updated_at"} == {
        "postpaid_permission_mode": "automatic",
        "external_invoicing": False,
        "default_payment_term_days": 14,
        "due_reminder_days": 3,
    }


def test_a_manager_patches_settings_and_the_change_is_logged(manager_api, manager):
    response = manager_api.patch(
        SETTINGS, {"postpaid_permission_mode": "manual", "due_reminder_days": 5}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["postpaid_permission_mode"] == "manual"
    assert response.json()["due_reminder_days"] == 5
    assert manager_api.get(SETTINGS).json()["postpaid_permission_mode"] == "manual"
    assert set(SettingsChange.objects.values_list("field", "changed_by")) == {
        ("postpaid_permission_mode", manager.pk),
        ("due_reminder_days", manager.pk),
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"postpaid_permission_mode": "sometimes"}, "postpaid_permission_mode"),
        ({"default_payment_term_days": 400}, "default_payment_term_days"),
        ({"due_reminder_days": -1}, "due_reminder_days"),
        ({"external_invoicing": "perhaps"}, "external_invoicing"),
        ({"colour": "blue"}, "colour"),
        ({"updated_at": "2026-01-01T00:00:00Z"}, "updated_at"),
        ({"due_reminder_days": 5, "colour": "blue"}, "colour"),
    ],
)
def test_a_bad_setting_is_400_naming_it_and_changes_nothing(manager_api, body, field):
    response = manager_api.patch(SETTINGS, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert response.json()["field"] == field
    assert manager_api.get(SETTINGS).json()["due_reminder_days"] == 3
    assert not SettingsChange.objects.exists()


def test_billing_staff_cannot_patch_settings(clerk_api):
    response = clerk_api.patch(SETTINGS, {"postpaid_permission_mode": "manual"}, format="json")

    assert response.status_code == 403
    assert clerk_api.get(SETTINGS).json()["postpaid_permission_mode"] == "automatic"


def test_settings_need_a_permission(db):
    bare = client_for(UserFactory())

    assert bare.get(SETTINGS).status_code == 403
    assert bare.patch(SETTINGS, {"due_reminder_days": 5}, format="json").status_code == 403


# -- manual-operations/ --------------------------------------------------------------


def test_staff_list_operations_oldest_first_filtered_by_status(clerk_api, manual, manager):
    accounts = [AccountFactory(payment_mode="postpaid") for _ in range(3)]
    first, second, third = (open_review(a) for a in accounts)
    manual_operation_decline(operation_id=second.pk, comment="Risky", decided_by=manager)

    everything = clerk_api.get(OPERATIONS).json()["results"]
    pending = clerk_api.get(OPERATIONS, {"status": "pending"}).json()["results"]
    declined = clerk_api.get(OPERATIONS, {"status": "declined"}).json()["results"]

    assert [o["id"] for o in everything] == [first.pk, second.pk, third.pk]
    assert [o["id"] for o in pending] == [first.pk, third.pk]
    [row] = declined
    assert {k: row[k] for k in ("id", "kind", "account", "status", "decided_by", "comment")} == {
        "id": second.pk,
        "kind": "allow_postpaid_subscriptions",
        "account": accounts[1].pk,
        "status": "declined",
        "decided_by": "manny",
        "comment": "Risky",
    }
    assert row["created_at"] and row["decided_at"]
    assert pending[0]["decided_by"] is None and pending[0]["decided_at"] is None


def test_an_unknown_status_filter_is_400_naming_it(clerk_api):
    response = clerk_api.get(OPERATIONS, {"status": "maybe"})

    assert response.status_code == 400
    assert response.json()["field"] == "status"


def test_a_manager_approves_through_the_api(manager_api, operation, seam_calls):
    response = manager_api.post(
        _decide_url(operation, "approve"), {"comment": "Fine"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["decided_by"], body["comment"]) == ("approved", "manny", "Fine")
    assert permission_of(operation.account) == "approved"
    assert [name for name, _ in seam_calls] == ["subscriptions_provision_waiting"]


def test_a_manager_declines_through_the_api_with_a_comment(manager_api, operation):
    response = manager_api.post(
        _decide_url(operation, "decline"), {"comment": "Unpaid debts elsewhere"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert permission_of(operation.account) == "declined"


def test_declining_without_a_comment_is_400(manager_api, operation):
    response = manager_api.post(_decide_url(operation, "decline"), {}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "comment"
    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"


def test_billing_staff_cannot_approve_through_the_api(clerk_api, operation, seam_calls):
    for action in ("approve", "decline"):
        response = clerk_api.post(_decide_url(operation, action), {"comment": "x"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"

    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"
    assert permission_of(operation.account) == "under_review"
    assert seam_calls == []


def test_approving_twice_is_409_decision_final_and_changes_nothing(
    manager_api, operation, seam_calls
):
    assert manager_api.post(_decide_url(operation, "approve"), {}, format="json").status_code == 200
    decided = ManualOperation.objects.get(pk=operation.pk)

    for action, body in (("approve", {}), ("decline", {"comment": "changed my mind"})):
        response = manager_api.post(_decide_url(operation, action), body, format="json")
        assert response.status_code == 409
        assert response.json()["error"] == "decision_final"

    again = ManualOperation.objects.get(pk=operation.pk)
    assert (again.status, again.decided_at, again.comment) == (
        "approved",
        decided.decided_at,
        "",
    )
    assert permission_of(operation.account) == "approved"
    assert len(seam_calls) == 1


def test_a_retry_with_the_same_idempotency_key_replays_the_decision(manager_api, operation):
    key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    url = _decide_url(operation, "approve")

    first = manager_api.post(url, {"comment": "ok"}, format="json", **key)
    retry = manager_api.post(url, {"comment": "ok"}, format="json", **key)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_an_unknown_operation_is_404(manager_api, db):
    response = manager_api.post(f"{OPERATIONS}999999/approve/", {}, format="json")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_client_login_never_sees_the_queue(portal_api, operation):
    assert portal_api.get(OPERATIONS).status_code == 403
    assert portal_api.get(f"{OPERATIONS}{operation.pk}/").status_code == 404
    assert portal_api.get(SETTINGS).status_code == 403
    response = portal_api.post(_decide_url(operation, "approve"), {}, format="json")
    assert response.status_code == 404
    assert ManualOperation.objects.get(pk=operation.pk).status == "pending"


def test_one_operation_reads_with_its_decision(clerk_api, operation, manager):
    manual_operation_approve(operation_id=operation.pk, comment="ok", decided_by=manager)

    body = clerk_api.get(f"{OPERATIONS}{operation.pk}/").json()

    assert (body["id"], body["status"], body["decided_by"]) == (operation.pk, "approved", "manny")


def test_the_schema_documents_the_approvals_endpoints(db):
    from rest_framework.test import APIClient

    paths = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]

    for path in (
        "/api/v1/settings/",
        "/api/v1/manual-operations/",
        "/api/v1/manual-operations/{operation_id}/",
        "/api/v1/manual-operations/{operation_id}/approve/",
        "/api/v1/manual-operations/{operation_id}/decline/",
    ):
        assert path in paths
    assert "patch" in paths["/api/v1/settings/"]
