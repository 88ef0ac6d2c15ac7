"""E-mail is a delivery like a webhook: a row per message, attempts with backoff, a beat
sweeper, resend from the admin; no channel's failure holds up another."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.utils import timezone

from accounts.services import account_block_credit
from notifications.models import (
    DeliveryStatus,
    EmailNotification,
    Event,
    WebhookDelivery,
)
from notifications.services import (
    BACKOFF,
    deliveries_retry_due,
    email_resend,
    emails_retry_due,
    webhook_endpoint_create,
)
from tests.factories import AccountFactory, staff_user

from .conftest import smtp_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs what was queued for after commit as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _block(account, committed):
    with committed():
        account_block_credit(account_id=account.pk, reason="Broken promise")


def _after_backoff(attempts: int = 1):
    """An instant when the backoff after `attempts` failed attempts is over."""
    return timezone.now() + timedelta(seconds=sum(BACKOFF[:attempts]) + 1)


def test_smtp_down_still_delivers_the_webhooks_and_keeps_the_email_to_retry(
    smtp_down, receiver, committed
):
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    before = timezone.now()

    _block(account, committed)

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
    email = EmailNotification.objects.get()
    assert (email.to, email.status, email.attempt_count) == (
        account.client.email,
        DeliveryStatus.PENDING,
        1,
    )
    assert "refused" in email.last_error.lower()
    assert email.sent_at is None
    assert email.next_attempt_at >= before + timedelta(seconds=BACKOFF[0])
    (attempt,) = email.attempts.all()
    assert attempt.error == email.last_error


def test_an_email_failure_of_any_kind_never_stops_the_webhooks(settings, receiver, committed):
    settings.EMAIL_BACKEND = "tests.notifications.backends.BrokenBackend"
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")

    _block(account, committed)

    assert len(receiver.requests) == 1
    email = EmailNotification.objects.get()
    assert email.status == DeliveryStatus.PENDING
    assert "relay exploded" in email.last_error


def test_smtp_back_the_sweeper_sends_the_email_once(smtp_down, smtp_sink, committed):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    _block(account, committed)
    assert emails_retry_due() == 0  # the backoff is not over yet

    smtp_up(smtp_down, smtp_sink)
    with time_machine.travel(_after_backoff()):
        assert emails_retry_due() == 1
        assert emails_retry_due() == 0

    assert [to for to, _ in smtp_sink.messages] == [[account.client.email]]
    assert "Subject: Your credit is blocked" in smtp_sink.messages[0][1]
    email = EmailNotification.objects.get()
    assert (email.status, email.attempt_count, email.next_attempt_at) == (
        DeliveryStatus.SUCCEEDED,
        2,
        None,
    )
    assert email.sent_at is not None
    assert [bool(a.error) for a in email.attempts.all()] == [True, False]


def test_emails_lost_while_smtp_was_down_all_go_out_once_it_is_back(
    smtp_down, smtp_sink, committed
):
    accounts = [AccountFactory(payment_mode="credit_limit", credit_limit="10") for _ in range(21)]
    for account in accounts:
        _block(account, committed)
    assert smtp_sink.messages == []

    smtp_up(smtp_down, smtp_sink)
    with time_machine.travel(_after_backoff()):
        assert emails_retry_due() == 21
        assert emails_retry_due() == 0

    assert sorted(to for (to,), _ in smtp_sink.messages) == sorted(a.client.email for a in accounts)
    assert set(EmailNotification.objects.values_list("status", flat=True)) == {"succeeded"}


def test_an_email_that_keeps_failing_is_given_up_after_the_last_backoff(smtp_down, committed):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    _block(account, committed)
    later = timezone.now()
    for seconds in BACKOFF:
        later += timedelta(seconds=seconds + 1)
        with time_machine.travel(later):
            emails_retry_due()
    email = EmailNotification.objects.get()
    assert (email.status, email.attempt_count, email.next_attempt_at) == (
        DeliveryStatus.FAILED,
        len(BACKOFF) + 1,
        None,
    )


def test_events_whose_dispatch_was_never_queued_are_all_delivered_by_the_sweepers(
    receiver, django_capture_on_commit_callbacks
):
    """The broker lost the dispatch (or was down when the events were written): the rows
    written with the events are all the sweepers need."""
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    accounts = [AccountFactory(payment_mode="credit_limit", credit_limit="10") for _ in range(21)]
    with django_capture_on_commit_callbacks(execute=False):  # nothing reaches a worker
        for account in accounts:
            account_block_credit(account_id=account.pk, reason="x")
    assert (len(mail.outbox), len(receiver.requests)) == (0, 0)

    assert emails_retry_due() == 21
    assert deliveries_retry_due() == 21

    assert sorted(m.to[0] for m in mail.outbox) == sorted(a.client.email for a in accounts)
    assert len(receiver.requests) == 21
    assert emails_retry_due() == deliveries_retry_due() == 0


def test_one_broken_endpoint_never_stops_the_others(receiver, committed):
    broken = webhook_endpoint_create(url="http://[::1/hooks", events=["credit.blocked"])
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")

    _block(account, committed)

    assert len(receiver.requests) == 1
    assert len(mail.outbox) == 1
    failed = WebhookDelivery.objects.get(endpoint=broken)
    assert (failed.status, failed.attempt_count) == (DeliveryStatus.PENDING, 1)
    assert "IPv6" in failed.attempts.get().error


def test_the_sweeper_goes_past_a_broken_endpoint(receiver, django_capture_on_commit_callbacks):
    broken = webhook_endpoint_create(url="http://[::1/hooks", events=["credit.blocked"])
    webhook_endpoint_create(url=receiver.url, events=["credit.blocked"])
    with django_capture_on_commit_callbacks(execute=False):
        account_block_credit(
            account_id=AccountFactory(payment_mode="credit_limit", credit_limit="1").pk,
            reason="x",
        )

    assert deliveries_retry_due() == 2

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(endpoint=broken).status == DeliveryStatus.PENDING


def test_staff_resend_an_email_and_the_attempt_says_who(smtp_down, smtp_sink, committed):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    _block(account, committed)
    smtp_up(smtp_down, smtp_sink)
    manager = staff_user("Managers")

    attempt = email_resend(email_id=EmailNotification.objects.get().pk, resent_by=manager)

    assert attempt.ok and attempt.resent_by == manager
    assert len(smtp_sink.messages) == 1
    assert EmailNotification.objects.get().status == DeliveryStatus.SUCCEEDED


def test_billing_staff_cannot_resend_an_email():
    from billing_site.exceptions import PermissionRefused

    with pytest.raises(PermissionRefused):
        email_resend(email_id=1, resent_by=staff_user("Billing staff"))


def test_the_admin_shows_an_email_with_its_attempts_and_resends_it(
    client, smtp_down, smtp_sink, committed
):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    _block(account, committed)
    email = EmailNotification.objects.get()
    client.force_login(staff_user("Managers"))

    page = client.get(f"/admin/notifications/emailnotification/{email.pk}/change/")
    assert page.status_code == 200
    assert "Email attempts" in page.content.decode()  # the inline of attempts
    assert page.content.decode().count(email.last_error) >= 2  # the row's and its attempt's
    listing = client.get("/admin/notifications/emailnotification/").content.decode()
    assert account.client.email in listing and "Pending" in listing

    smtp_up(smtp_down, smtp_sink)
    answer = client.post(
        "/admin/notifications/emailnotification/",
        {"action": "resend", "_selected_action": [email.pk]},
        follow=True,
    )
    assert "1 sent, 0 failed again" in answer.content.decode()
    assert len(smtp_sink.messages) == 1
    assert EmailNotification.objects.get().attempts.count() == 2


def test_an_event_without_an_account_has_no_email(committed):
    from notifications.services import event_record

    with committed():
        event = event_record(type="manual_operation.decided", data={"id": 1})
    assert not EmailNotification.objects.filter(event=event).exists()
    assert Event.objects.count() == 1


def test_beat_sweeps_emails_every_minute_from_a_fresh_migrate():
    from django_celery_beat.models import PeriodicTask

    from billing_site.celery import app

    task = PeriodicTask.objects.get(task="notifications.retry_due_emails")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 60, "seconds")
    assert "notifications.retry_due_emails" in app.tasks
    webhooks = PeriodicTask.objects.get(task="notifications.retry_due_deliveries")
    assert webhooks.enabled


@pytest.mark.django_db(transaction=True)
def test_a_sweeper_racing_the_worker_sends_the_email_once(settings, smtp_sink, broker_down):
    """The worker's dispatch and several sweepers reach one due e-mail at the same time;
    the SMTP server is slow, so they overlap while it is being sent."""
    from notifications.tasks import send_event_emails

    smtp_up(settings, smtp_sink)
    smtp_sink.data_delay = 0.5
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    account_block_credit(account_id=account.pk, reason="x")  # committed, never queued
    event_id = Event.objects.get(account=account).pk

    contenders = [lambda: send_event_emails([event_id])] + [emails_retry_due] * 5
    barrier = threading.Barrier(len(contenders))
    errors = []

    def run(work):
        try:
            barrier.wait(timeout=10)
            work()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(smtp_sink.messages) == 1
    email = EmailNotification.objects.get()
    assert (email.status, email.attempt_count) == (DeliveryStatus.SUCCEEDED, 1)
