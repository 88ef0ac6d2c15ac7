"""Events reach email and webhooks exactly once, signed per Standard Webhooks."""

import json
from datetime import date, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.models import BillingAccount
from accounts.services import account_block_credit
from approvals.services import settings_update
from invoicing.models import Invoice
from invoicing.services import invoicing_mark_overdue, invoicing_remind_due
from notifications.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from notifications.services import (
    BACKOFF,
    deliveries_retry_due,
    webhook_endpoint_create,
    webhook_resend,
)
from tests.factories import AccountFactory, staff_user
from tests.invoicing.helpers import at, charge, pay, run_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs what was queued for after commit as a commit would
    (the test itself runs in one transaction that is never committed)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def invoice(committed):
    """A credit invoice issued 2026-11-01, due 2026-11-15."""
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    charge(account, "40", at(2026, 10, 10, 12))
    with committed():
        run_month(date(2026, 11, 1))
    return Invoice.objects.get(account=account)


def _events(event_type):
    return list(Event.objects.filter(type=event_type))


def test_an_event_exists_only_if_its_change_committed():
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    with pytest.raises(RuntimeError), transaction.atomic():
        account_block_credit(account_id=account.pk, reason="test")
        raise RuntimeError("the change is rolled back")
    assert not Event.objects.exists()
    assert BillingAccount.objects.get(pk=account.pk).credit_status == "active"


def test_the_approved_invoice_is_announced_once_by_email(
    invoice, django_capture_on_commit_callbacks
):
    approved = _events("invoice.approved")
    assert [e.data["number"] for e in approved] == [invoice.number]
    assert approved[0].data["total"] == {"amount": "40.000000", "currency": "USD"}
    assert [m.to for m in mail.outbox] == [[invoice.account.client.email]]
    assert invoice.number in mail.outbox[0].subject
    assert mail.outbox[0].alternatives[0][1] == "text/html"


def test_the_due_date_reminder_goes_out_once_n_days_before(invoice, committed):
    settings_update(changed_by=None, due_reminder_days=3)
    with committed():
        assert invoicing_remind_due(run_date=date(2026, 11, 11)) == 0  # 4 days before
        assert invoicing_remind_due(run_date=date(2026, 11, 12)) == 1  # 3 days before
        assert invoicing_remind_due(run_date=date(2026, 11, 12)) == 0  # rerun
        assert invoicing_remind_due(run_date=date(2026, 11, 13)) == 0  # next day
    reminders = _events("payment.due_soon")
    assert [e.data["number"] for e in reminders] == [invoice.number]
    assert sum("Reminder" in m.subject for m in mail.outbox) == 1


def test_overdue_and_credit_blocked_fire_once_and_unblock_when_paid(invoice, committed):
    with committed():
        invoicing_mark_overdue(run_date=date(2026, 11, 16))
        invoicing_mark_overdue(run_date=date(2026, 11, 17))
    assert len(_events("invoice.overdue")) == 1
    blocked = _events("credit.blocked")
    assert len(blocked) == 1
    assert blocked[0].data["credit_status"] == "blocked"

    pay(invoice.account, "40", at(2026, 11, 18, 9))
    assert len(_events("invoice.paid")) == 1
    assert [e.data["credit_status"] for e in _events("credit.unblocked")] == ["active"]


def test_a_webhook_delivery_is_signed_per_the_standard_and_verifies(receiver, committed):
    endpoint = webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    with committed():
        account_block_credit(account_id=account.pk, reason="Broken promise")

    ((headers, body),) = receiver.requests
    payload = Webhook(endpoint.secret).verify(body, headers)
    assert payload["type"] == "credit.blocked"
    assert payload["data"]["id"] == account.pk
    assert headers["webhook-id"] == Event.objects.get().message_id
    tampered = json.dumps({**payload, "type": "credit.unblocked"})
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint.secret).verify(tampered, headers)


def test_a_failing_endpoint_is_retried_with_backoff_until_it_answers(receiver, committed):
    receiver.replies = [500, 503]
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    with committed():
        account_block_credit(account_id=account.pk, reason="x")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)

    assert deliveries_retry_due() == 0  # backoff not over yet
    with time_machine.travel(timezone.now() + timedelta(seconds=BACKOFF[0] + 1)):
        assert deliveries_retry_due() == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=BACKOFF[0] + BACKOFF[1] + 2)):
        assert deliveries_retry_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 3)
    assert [a.status_code for a in delivery.attempts.all()] == [500, 503, 200]
    assert len({h["webhook-id"] for h, _ in receiver.requests}) == 1  # same message id


def test_an_endpoint_that_never_answers_is_given_up_after_the_last_backoff(receiver, committed):
    receiver.replies = [500] * 20
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    with committed():
        account_block_credit(account_id=account.pk, reason="x")
    later = timezone.now()
    for seconds in BACKOFF:
        later += timedelta(seconds=seconds + 1)
        with time_machine.travel(later):
            deliveries_retry_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.FAILED, len(BACKOFF) + 1)


def test_staff_can_resend_a_delivery_and_the_attempt_is_kept(receiver, committed):
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    with committed():
        account_block_credit(account_id=account.pk, reason="x")
    manager = staff_user("Managers")
    attempt = webhook_resend(delivery_id=WebhookDelivery.objects.get().pk, resent_by=manager)
    assert attempt.ok and attempt.resent_by == manager
    assert len(receiver.requests) == 2


def test_billing_staff_cannot_resend():
    from billing_site.exceptions import PermissionRefused

    with pytest.raises(PermissionRefused):
        webhook_resend(delivery_id=1, resent_by=staff_user("Billing staff"))


def test_the_api_registers_a_webhook_endpoint_and_shows_its_secret_once():
    from tests.api.conftest import client_for

    api = client_for(staff_user("Managers"))
    created = api.post(
        "/api/v1/webhooks/",
        {"url": "https://erp.example/hooks", "events": ["invoice.approved", "invoice.paid"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["secret"].startswith("whsec_")
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert [e["url"] for e in listed] == ["https://erp.example/hooks"]
    assert "secret" not in listed[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://erp.example", "events": ["invoice.paid"]}, "url"),
        ({"url": "https://erp.example", "events": ["invoice.lost"]}, "events"),
        ({"url": "https://erp.example", "events": []}, "events"),
        ({"url": "https://erp.example", "events": ["invoice.paid"], "secret": "short"}, "secret"),
    ],
)
def test_a_bad_webhook_registration_is_a_400_naming_the_field(body, field):
    from tests.api.conftest import client_for

    api = client_for(staff_user("Managers"))
    response = api.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not WebhookEndpoint.objects.exists()


def test_billing_staff_may_list_but_not_register_webhooks():
    from tests.api.conftest import client_for

    api = client_for(staff_user("Billing staff"))
    assert api.get("/api/v1/webhooks/").status_code == 200
    body = {"url": "https://erp.example/hooks", "events": ["invoice.paid"]}
    assert api.post("/api/v1/webhooks/", body, format="json").status_code == 403


def test_message_ids_are_unique_and_sort_by_time():
    import time_machine
    from django.utils import timezone

    from notifications.models import new_message_id

    with time_machine.travel(timezone.now(), tick=False) as clock:
        same_ms = {new_message_id() for _ in range(1000)}
        clock.shift(0.002)
        later = new_message_id()
    assert len(same_ms) == 1000
    assert all(len(i) == 30 and i.startswith("msg_") for i in same_ms)
    assert later > max(same_ms)
