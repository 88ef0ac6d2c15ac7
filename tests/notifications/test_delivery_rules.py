"""The database keeps the delivery rows sound, whatever writes them."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from accounts.services import account_block_credit
from notifications.models import EmailNotification, WebhookDelivery
from notifications.services import webhook_endpoint_create
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rows(broker_down):
    """One e-mail and one webhook delivery as an event writes them (the broker is down,
    so nothing sends them before the test looks)."""
    webhook_endpoint_create(url="http://127.0.0.1:9/hooks", events=["credit.blocked"])
    account = AccountFactory(payment_mode="credit_limit", credit_limit="10")
    account_block_credit(account_id=account.pk, reason="x")
    return EmailNotification.objects.get(), WebhookDelivery.objects.get()


@pytest.mark.parametrize("model", [EmailNotification, WebhookDelivery])
def test_a_pending_delivery_always_has_its_next_attempt(rows, model):
    with pytest.raises(IntegrityError, match="pending_has_next_attempt"):
        model.objects.update(next_attempt_at=None)


@pytest.mark.parametrize("model", [EmailNotification, WebhookDelivery])
def test_a_delivery_status_is_one_of_the_known_ones(rows, model):
    with pytest.raises(IntegrityError, match="status_valid"):
        model.objects.update(status="lost")


def test_a_given_up_delivery_needs_no_next_attempt(rows):
    EmailNotification.objects.update(status="failed", next_attempt_at=None)
    assert EmailNotification.objects.get().next_attempt_at is None


def test_an_event_has_one_email_at_most(rows):
    email, _ = rows
    with pytest.raises(IntegrityError):
        EmailNotification.objects.create(
            event_id=email.event_id, to=email.to, next_attempt_at=timezone.now()
        )


def test_a_new_email_is_due_at_once(rows):
    email, delivery = rows
    assert email.status == delivery.status == "pending"
    assert email.attempt_count == delivery.attempt_count == 0
    assert timezone.now() - email.next_attempt_at < timedelta(minutes=1)


# -- the migration that made e-mails deliveries ------------------------------------------


def _migrate(*targets):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    executor.loader.build_graph()
    return executor.loader.project_state(list(targets)).apps


def _latest(app: str) -> str:
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connection).loader.graph.leaf_nodes(app)[0][1]


@pytest.fixture
def back_to_latest():
    yield
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_emails_never_sent_before_the_upgrade_are_retried_or_shown_given_up(back_to_latest):
    before = _migrate(
        ("accounts", _latest("accounts")), ("notifications", "0002_beat_and_permissions")
    )
    Client = before.get_model("accounts", "Client")
    Account = before.get_model("accounts", "BillingAccount")
    Event = before.get_model("notifications", "Event")
    Email = before.get_model("notifications", "EmailNotification")
    client = Client.objects.create(name="Acme", email="billing@acme.example")
    account = Account.objects.create(client=client, currency="USD")

    def event(days_ago: int):
        made = Event.objects.create(type="credit.blocked", data={}, account=account)
        Event.objects.filter(pk=made.pk).update(
            occurred_at=timezone.now() - timedelta(days=days_ago)
        )
        return made.pk

    lost_today, lost_long_ago, failed_today, sent = event(0), event(30), event(0), event(0)
    no_account = Event.objects.create(type="manual_operation.decided", data={}).pk
    Email.objects.create(event_id=failed_today, to=client.email, subject="s", error="refused")
    Email.objects.create(event_id=sent, to=client.email, subject="s", sent_at=timezone.now())

    after = _migrate(
        ("accounts", _latest("accounts")), ("notifications", "0005_delivery_constraints")
    )

    rows = {
        e.event_id: (e.status, e.attempt_count, e.next_attempt_at is not None, e.last_error)
        for e in after.get_model("notifications", "EmailNotification").objects.all()
    }
    assert rows[lost_today] == ("pending", 0, True, "")
    assert rows[failed_today] == ("pending", 1, True, "refused")
    assert rows[sent] == ("succeeded", 1, False, "")
    status, attempts, due, error = rows[lost_long_ago]
    assert (status, attempts, due) == ("failed", 0, False)
    assert "resend" in error
    assert no_account not in rows
    PeriodicTask = after.get_model("django_celery_beat", "PeriodicTask")
    assert PeriodicTask.objects.filter(task="notifications.retry_due_emails").exists()
