import pytest
from django.urls import reverse

from approvals.exceptions import UNDER_REVIEW_MESSAGE
from approvals.models import ManualOperation
from approvals.services import manual_operation_decline, settings_update
from ledger.models import Entry
from subscriptions.models import Subscription, SubscriptionStatus, Upsell, UpsellStatus
from subscriptions.services import subscription_order
from tests.factories import AccountFactory

from .conftest import portal_user

pytestmark = pytest.mark.django_db

WAITING = "Your order is waiting: your account is under review"


def order(client, plan, trial=False):
    data = {"plan": plan.code}
    if trial:
        data["trial"] = "on"
    return client.post(reverse("portal:subscription_order"), data, follow=True).content.decode()


@pytest.fixture
def prepaid(client):
    account = AccountFactory(name="Prepaid Co", funds="100")
    client.force_login(portal_user(account, "pat"))
    return account


def test_ordering_a_prepay_plan_subscribes_and_charges(client, prepaid, basic):
    body = order(client, basic)
    assert "Subscribed to Basic." in body
    subscription = Subscription.objects.get(account=prepaid)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert "Basic" in client.get(reverse("portal:subscriptions")).content.decode()


def test_the_order_form_offers_the_trial_for_plans_that_have_one(client, prepaid, basic):
    page = client.get(reverse("portal:subscription_order")).content.decode()
    assert "14-day free trial" in page
    assert 'name="trial"' in page
    assert "Subscribed" in order(client, basic, trial=True)
    assert Subscription.objects.get(account=prepaid).is_trial


def test_a_refused_order_shows_the_reason_and_creates_nothing(client, prepaid, metered):
    body = order(client, metered)
    assert "convert the account to postpaid or credit limit first" in body
    assert not Subscription.objects.filter(account=prepaid).exists()


def test_an_order_the_funds_do_not_cover_is_refused(client, basic):
    account = AccountFactory(name="Broke Co")
    client.force_login(portal_user(account, "broke"))
    entries = Entry.objects.count()
    body = order(client, basic)
    assert 'class="msg msg-error"' in body
    assert not Subscription.objects.filter(account=account).exists()
    assert Entry.objects.count() == entries


def test_postpay_order_under_manual_review_waits(signed_in, credit_account, metered, manager):
    settings_update(changed_by=manager, postpaid_permission_mode="manual")
    body = order(signed_in, metered)
    assert WAITING in body
    assert Subscription.objects.get(account=credit_account).status == (
        SubscriptionStatus.PENDING_APPROVAL
    )
    listing = signed_in.get(reverse("portal:subscriptions")).content.decode()
    assert WAITING in listing
    # A second postpaid order while under review: refused, still "under review".
    body = order(signed_in, metered)
    assert UNDER_REVIEW_MESSAGE in body
    assert Subscription.objects.filter(account=credit_account).count() == 1


def test_a_decline_is_never_revealed(signed_in, credit_account, metered, manager):
    settings_update(changed_by=manager, postpaid_permission_mode="manual")
    order(signed_in, metered)
    operation = ManualOperation.objects.get()
    manual_operation_decline(operation_id=operation.pk, comment="No.", decided_by=manager)
    body = order(signed_in, metered)
    assert UNDER_REVIEW_MESSAGE in body
    listing = signed_in.get(reverse("portal:subscriptions")).content.decode().lower()
    assert "declin" not in listing
    assert "declin" not in body.lower()


def test_another_clients_subscription_is_404(signed_in, other_account, basic):
    theirs = subscription_order(account_id=other_account.pk, plan=basic, trial=True)
    url = reverse("portal:subscription_detail", args=[theirs.pk])
    assert signed_in.get(url).status_code == 404
    assert signed_in.post(url, {"change": "plan:pro", "pay_with": "balance"}).status_code == 404
    assert Upsell.objects.count() == 0


@pytest.fixture
def running(prepaid, basic, pro):
    return subscription_order(account_id=prepaid.pk, plan=basic)


def test_upsell_quote_then_pay_from_balance(client, running):
    url = reverse("portal:subscription_detail", args=[running.pk])
    page = client.get(url, {"change": "plan:pro", "pay_with": "balance"}).content.decode()
    assert "Price for the rest of this month" in page
    body = client.post(url, {"change": "plan:pro", "pay_with": "balance"}, follow=True)
    assert "Done: Plan change" in body.content.decode()
    assert Upsell.objects.get().status == UpsellStatus.APPLIED
    assert Subscription.objects.get(pk=running.pk).plan.code == "pro"


def test_upsell_by_bank_transfer_waits_for_the_money(client, running):
    url = reverse("portal:subscription_detail", args=[running.pk])
    response = client.post(
        url,
        {"change": "add_on:static-ip", "pay_with": "gateway", "gateway": "bank_transfer"},
        follow=True,
    )
    upsell = Upsell.objects.get()
    assert upsell.status == UpsellStatus.PENDING_PAYMENT
    assert upsell.payment_request.reference in response.content.decode()


def test_upsell_the_balance_cannot_cover_is_refused_and_changes_nothing(client, basic, pro):
    account = AccountFactory(name="Thin Co", funds="10")
    client.force_login(portal_user(account, "thin"))
    subscription = subscription_order(account_id=account.pk, plan=basic)
    entries = Entry.objects.count()
    url = reverse("portal:subscription_detail", args=[subscription.pk])
    body = client.post(url, {"change": "plan:pro", "pay_with": "balance"}, follow=True)
    assert 'class="msg msg-error"' in body.content.decode()
    assert Entry.objects.count() == entries
    assert not Upsell.objects.filter(status=UpsellStatus.APPLIED).exists()
    assert Subscription.objects.get(pk=subscription.pk).plan.code == "basic"
