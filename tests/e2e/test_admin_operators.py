"""The operators' day in the admin, in a real browser (issue 6): a manager decides the
queue, billing staff convert an account and cannot decide."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython

from accounts.models import BillingAccount, PaymentMode
from approvals.models import ManualOperation, OperationStatus
from approvals.services import settings_update
from subscriptions.services import plan_create, subscription_order
from tests.factories import AccountFactory, staff_user

pytestmark = [
    pytest.mark.e2e,
    # live_server flushes between tests (a truncate, which the ledger's append-only
    # trigger lets through); serialized_rollback brings back the groups the migrations made.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's
ROLES = ("Billing staff", "Managers")


@pytest.fixture(autouse=True)
def staff_groups():
    """The staff groups, as the migrations make them.

    A transactional test's flush drops them, and serialized_rollback does not always
    bring them back (not after a non-transactional test ran in the same session), so
    the migrations' own group and permission steps run again when they are missing.
    """
    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    loader = MigrationLoader(connection)
    state_apps = loader.project_state().apps
    plan = [key for leaf in loader.graph.leaf_nodes() for key in loader.graph.forwards_plan(leaf)]
    seen = set()
    for key in plan:
        if key in seen:
            continue
        seen.add(key)
        for operation in loader.graph.nodes[key].operations:
            code = getattr(operation, "code", None)
            if isinstance(operation, RunPython) and (
                "grant" in code.__code__.co_names or code.__name__ == "create_groups"
            ):
                code(state_apps, None)
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


@pytest.fixture
def pending_operation():
    """A postpay order in manual mode: the account waits in the managers' queue."""
    settings_update(changed_by=None, postpaid_permission_mode="manual")
    plan = plan_create(
        code="metered", name="Metered", price="31", currency="USD", charging="postpay"
    )
    account = AccountFactory(name="Globex", payment_mode="postpaid")
    subscription_order(account_id=account.pk, plan=plan)
    return ManualOperation.objects.get(account=account, status=OperationStatus.PENDING)


def test_manager_approves_a_pending_manual_operation(page, live_server, pending_operation):
    staff_user("Managers", username="manny")
    sign_in(page, live_server, "manny")

    # The dashboard counts the queue and links to it.
    card = page.locator('[data-card="pending"]')
    assert card.locator(".value").inner_text() == "1"
    card.click()
    page.wait_for_url(f"{live_server.url}/admin/approvals/pendingmanualoperation/")
    assert page.get_by_text("Globex").first.is_visible()
    page.locator(f'#result_list a[href$="/{pending_operation.pk}/change/"]').first.click()
    page.locator("a.decision-approve").click()
    page.locator("textarea[name=comment]").fill("Known client, approved on the phone")
    page.locator("#action-form input[type=submit]").click()

    page.wait_for_url(f"{live_server.url}/admin/approvals/pendingmanualoperation/**")
    assert page.locator(".messagelist").is_visible()
    operation = ManualOperation.objects.get(pk=pending_operation.pk)
    assert operation.status == OperationStatus.APPROVED
    assert operation.comment == "Known client, approved on the phone"
    assert operation.decided_by.username == "manny"


def test_billing_staff_cannot_see_the_approve_button(page, live_server, pending_operation):
    staff_user("Billing staff", username="billie")
    sign_in(page, live_server, "billie")

    page.goto(
        f"{live_server.url}/admin/approvals/pendingmanualoperation/{pending_operation.pk}/change/"
    )
    assert page.get_by_text("Only managers can approve or decline").is_visible()
    assert page.locator("a.decision-approve").count() == 0
    assert page.get_by_role("link", name="Approve…").count() == 0
    assert ManualOperation.objects.get(pk=pending_operation.pk).status == OperationStatus.PENDING


def test_billing_staff_converts_an_account_to_credit_limit(page, live_server):
    account = AccountFactory(name="Initech", funds="100")
    staff_user("Billing staff", username="billie")
    sign_in(page, live_server, "billie")

    page.goto(f"{live_server.url}/admin/accounts/billingaccount/{account.pk}/change/")
    page.get_by_role("link", name="Convert payment mode").click()
    page.select_option("#id_payment_mode", "credit_limit")
    page.fill("#id_credit_limit", "750")
    page.fill("#id_reason", "Signed the annual contract")
    page.locator("#action-form input[type=submit]").click()

    page.wait_for_url(f"{live_server.url}/admin/accounts/billingaccount/{account.pk}/change/")
    assert page.get_by_text("Signed the annual contract").first.is_visible()
    converted = BillingAccount.objects.get(pk=account.pk)
    assert converted.payment_mode == PaymentMode.CREDIT_LIMIT
    assert converted.credit_limit == Decimal("750")
