"""A broker outage delays the work queued after a commit, never loses it, and never turns
the committed request into an error."""

import logging
import time
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from rest_framework.test import APIClient

from accounts.services import account_block_credit
from api.services import api_key_create
from invoicing.models import Invoice
from ledger.models import Entry, EntryKind
from ledger.selectors import account_figures
from notifications.models import DeliveryStatus, EmailNotification, Event, WebhookDelivery
from notifications.services import deliveries_retry_due, emails_retry_due, webhook_endpoint_create
from tests.factories import AccountFactory, UserFactory
from tests.invoicing.helpers import at, charge, run_month

from .conftest import broker_hanging, broker_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


def _api(*codenames) -> APIClient:
    # Permissions, not groups: a transactional test's flush drops migration-made groups.
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(user=user, name='t')[1]}")
    return client


def test_a_payment_while_the_broker_is_down_is_booked_once_and_notified_later(
    settings, tmp_path, receiver, caplog
):
    from datetime import date

    settings.PRIVATE_MEDIA_ROOT = tmp_path
    webhook_endpoint_create(url=receiver.url, events=["invoice.paid"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    charge(account, "40", at(2026, 10, 10, 12))
    run_month(date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    assert invoice.status == "approved"
    settings.INVOICE_PDF_WARM_CACHE = True  # the payment also queues the PDF's render
    api = _api("receive_payment")
    key = str(uuid.uuid4())
    path = f"/api/v1/accounts/{account.pk}/payments/"

    with broker_unreachable(), caplog.at_level(logging.WARNING):
        started = time.monotonic()
        answer = api.post(path, {"amount": "40"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        took = time.monotonic() - started
        replay = api.post(path, {"amount": "40"}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert answer.status_code == 201, answer.content
    assert took < 5
    assert replay.status_code == 201 and replay.content == answer.content
    assert Entry.objects.filter(account=account, kind=EntryKind.PAYMENT).count() == 1
    assert account_figures(account.pk).balance == 0
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    paid = Event.objects.get(type="invoice.paid")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("notifications" in w and str(paid.pk) in w for w in warnings), warnings
    assert any("render_invoice_pdfs" in w and str(invoice.pk) in w for w in warnings), warnings
    email = EmailNotification.objects.get(event=paid)
    assert (email.status, email.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert WebhookDelivery.objects.get(event=paid).attempt_count == 0
    sent_before = len(mail.outbox)

    # The broker is back (tasks run in-process again): beat's sweepers deliver the rest.
    assert emails_retry_due() == 1
    assert deliveries_retry_due() == 1

    assert [m.to for m in mail.outbox[sent_before:]] == [[account.client.email]]
    assert invoice.number in mail.outbox[-1].subject
    assert ['"type":"invoice.paid"' in body for _, body in receiver.requests] == [True]
    assert EmailNotification.objects.get(event=paid).status == DeliveryStatus.SUCCEEDED
    assert WebhookDelivery.objects.get(event=paid).status == DeliveryStatus.SUCCEEDED


def test_a_broker_that_never_answers_costs_one_change_a_bounded_wait_not_every_change(caplog):
    accounts = [AccountFactory(payment_mode="credit_limit", credit_limit="10") for _ in range(3)]
    took = []
    with broker_hanging(timeout=1), caplog.at_level(logging.WARNING):
        for account in accounts:
            started = time.monotonic()
            account_block_credit(account_id=account.pk, reason="x")
            took.append(time.monotonic() - started)

    assert took[0] < 10  # the timeouts and the publish retries bound the first one
    assert max(took[1:]) < 0.5, took  # later ones leave the broker alone for a while
    assert Event.objects.filter(type="credit.blocked").count() == 3
    assert any("moments ago" in r.getMessage() for r in caplog.records)
    assert emails_retry_due() == 3  # the broker's back: nothing was lost
