"""The operator control panel: the catalogue is edited, states move only through services."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from subscriptions.models import PaymentRequest, Plan, SubscriptionStatusChange
from tests.factories import AccountFactory, UserFactory, staff_user

from .helpers import fresh, on, order, renew

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(client):
    user = staff_user("Billing staff")
    client.force_login(user)
    return user


def transition_url(obj, name):
    return f"/admin/subscriptions/{obj._meta.model_name}/{obj.pk}/transition/{name}/"


def test_the_lists_and_pages_open_for_billing_staff(client, clerk, basic, metered):
    account = AccountFactory(funds="10")
    subscription = order(account, basic, "2026-06-11")
    renew("2026-07-01")  # too little: suspended with a payment request
    request = PaymentRequest.objects.get()
    for url in [
        "/admin/subscriptions/plan/",
        f"/admin/subscriptions/plan/{basic.pk}/change/",
        "/admin/subscriptions/addon/",
        "/admin/subscriptions/subscription/",
        f"/admin/subscriptions/subscription/{subscription.pk}/change/",
        "/admin/subscriptions/paymentrequest/",
        f"/admin/subscriptions/paymentrequest/{request.pk}/change/",
    ]:
        assert client.get(url).status_code == 200, url


def test_staff_change_a_plans_price_and_running_subscriptions_pay_it_next_month(
    client, clerk, basic
):
    account = AccountFactory(funds="100")
    subscription = order(account, basic, "2026-06-11")
    page = client.post(
        f"/admin/subscriptions/plan/{basic.pk}/change/",
        {
            "name": "Basic",
            "price": "11.5",
            "currency": "USD",
            "charging": "prepay",
            "trial_days": "14",
            "active": "on",
            "add_ons": [basic.add_ons.get().pk],
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    assert Plan.objects.get(pk=basic.pk).price == Decimal("11.5")
    assert fresh(subscription).plan_price == Decimal("10")
    renew("2026-07-01")
    assert fresh(subscription).plan_price == Decimal("11.5")


def test_a_negative_price_is_refused_on_the_form(client, clerk, basic):
    page = client.post(
        f"/admin/subscriptions/plan/{basic.pk}/change/",
        {"name": "Basic", "price": "-1", "charging": "prepay", "trial_days": "0"},
    )
    assert page.status_code == 200
    assert "cannot be negative" in page.content.decode()
    assert Plan.objects.get(pk=basic.pk).price == Decimal("10")


def test_staff_suspend_and_resume_from_the_admin_and_the_history_names_them(client, clerk, basic):
    account = AccountFactory(funds="100")
    subscription = order(account, basic, "2026-06-11")
    page = client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
    assert b'value="suspend"' in page.content

    with on("2026-06-12"):
        done = client.post(transition_url(subscription, "suspend"), {"reason": "Abuse report"})
    assert done.status_code == 302
    assert fresh(subscription).status == "suspended"
    with on("2026-06-13"):
        client.post(transition_url(subscription, "resume"), {"reason": "Resolved"})
    assert fresh(subscription).status == "active"
    history = SubscriptionStatusChange.objects.filter(subscription=subscription).order_by("id")
    assert [(h.to_status, h.changed_by, h.reason) for h in history][1:] == [
        ("suspended", clerk, "Abuse report"),
        ("active", clerk, "Resolved"),
    ]


def test_a_resume_the_funds_do_not_cover_is_refused_with_the_ledgers_message(client, clerk, basic):
    account = AccountFactory(funds="10")
    subscription = order(account, basic, "2026-06-11")
    renew("2026-07-01")  # suspended for non-payment
    with on("2026-07-02"):
        page = client.post(
            transition_url(subscription, "resume"), {"reason": "Asked nicely"}, follow=True
        )
    assert "Insufficient funds" in page.content.decode()
    assert fresh(subscription).status == "suspended"


def test_a_viewer_cannot_suspend_even_by_posting_the_button(client, basic):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="subscriptions", codename__startswith="view_"
        )
    )
    client.force_login(viewer)
    subscription = order(AccountFactory(funds="100"), basic, "2026-06-11")
    client.post(transition_url(subscription, "suspend"), {"reason": "x"})
    assert fresh(subscription).status == "active"


def test_staff_confirm_a_bank_transfer_with_the_button(client, clerk, basic):
    account = AccountFactory(funds="10")
    subscription = order(account, basic, "2026-06-11")
    renew("2026-07-01")
    request = PaymentRequest.objects.get()
    page = client.get(f"/admin/subscriptions/paymentrequest/{request.pk}/change/")
    assert b'value="confirm"' in page.content

    with on("2026-07-02"):
        client.post(
            f"/admin/subscriptions/paymentrequest/{request.pk}/change/",
            {"_fsm_transition_to": "confirm"},
        )
    settled = PaymentRequest.objects.get(pk=request.pk)
    assert (settled.status, settled.confirmed_by) == ("succeeded", clerk)
    assert fresh(subscription).status == "active"


def test_staff_confirm_requests_from_the_list_action(client, clerk, basic):
    account = AccountFactory(funds="10")
    order(account, basic, "2026-06-11")
    renew("2026-07-01")
    request = PaymentRequest.objects.get()
    with on("2026-07-02"):
        client.post(
            "/admin/subscriptions/paymentrequest/",
            {"action": "confirm_money_received", "_selected_action": [request.pk]},
        )
    assert PaymentRequest.objects.get(pk=request.pk).status == "succeeded"


def test_plans_are_never_deleted_from_the_admin(client, clerk, basic):
    assert (
        client.post(f"/admin/subscriptions/plan/{basic.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Plan.objects.filter(pk=basic.pk).exists()
