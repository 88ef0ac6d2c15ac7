"""`seed_demo` builds a believable data set through the services and is safe to rerun."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import (
    AccountStateChange,
    BillingAccount,
    Client,
    ClientUser,
    CreditLimitScope,
    CreditStatus,
    PaymentMode,
    PaymentModeChange,
)
from ledger.models import Entry, Reservation, ReservationStatus
from ledger.selectors import account_figures, ledger_mismatches

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mid_month():
    """The demo is built relative to today; these tests pin a day that is no billing day
    (the billing day itself has its own test below)."""
    with time_machine.travel(datetime(2026, 12, 9, 10, tzinfo=UTC)):
        yield


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (
            Client,
            BillingAccount,
            Entry,
            Reservation,
            PaymentModeChange,
            AccountStateChange,
            ClientUser,
            get_user_model(),
        )
    }


def account(name):
    return BillingAccount.objects.select_related("client").get(client__name=name)


def test_seed_demo_twice_creates_nothing_new():
    seed()
    first = row_counts()
    output = seed()

    assert row_counts() == first
    assert "nothing new was created" in output
    assert first["Entry"] > 300


def test_the_books_balance_after_seed_demo_runs_twice():
    seed()
    seed()
    assert list(ledger_mismatches()) == []


def test_seed_demo_covers_every_payment_mode():
    seed()
    modes = set(BillingAccount.objects.values_list("payment_mode", flat=True))
    assert modes == set(PaymentMode.values)
    assert set(BillingAccount.objects.values_list("currency", flat=True)) == {"USD", "EUR"}

    assert account_figures(account("Acme Hosting")).balance > 0

    was_postpaid = account("Bluebird Telecom")
    assert was_postpaid.payment_mode == PaymentMode.PREPAID
    assert account_figures(was_postpaid).balance < 0
    assert was_postpaid.mode_changes.filter(to_mode=PaymentMode.PREPAID).exists()

    postpaid = account("Cobalt Cloud")
    assert postpaid.payment_mode == PaymentMode.POSTPAID
    assert account_figures(postpaid).balance < 0

    scopes = set(
        BillingAccount.objects.filter(payment_mode=PaymentMode.CREDIT_LIMIT).values_list(
            "credit_limit_scope", flat=True
        )
    )
    assert scopes == set(CreditLimitScope.values)

    blocked = account("Foxglove Retail")
    assert blocked.credit_status == CreditStatus.BLOCKED
    assert blocked.state_changes.get().to_state == CreditStatus.BLOCKED


def test_seed_demo_books_a_month_of_sub_cent_usage_and_holds_in_every_state():
    seed()
    usage = Entry.objects.filter(kind="usage")
    assert usage.count() >= 200
    assert all(e.period_start and e.period_start == e.period_end for e in usage)
    assert any(e.amount.as_tuple().exponent == -6 and e.amount * 100 % 1 for e in usage)
    assert Entry.objects.filter(kind="payment").exists()
    statuses = set(Reservation.objects.values_list("status", flat=True))
    assert {
        ReservationStatus.PENDING,
        ReservationStatus.COMMITTED,
        ReservationStatus.RELEASED,
    } <= statuses


def test_seed_demo_logins_work_and_are_printed(client):
    output = seed()
    assert "http://127.0.0.1:8000/admin/" in output
    User = get_user_model()

    assert User.objects.get(username="admin").is_superuser
    assert list(User.objects.get(username="billing").groups.values_list("name", flat=True)) == [
        "Billing staff"
    ]
    assert list(User.objects.get(username="manager").groups.values_list("name", flat=True)) == [
        "Managers"
    ]
    customer = User.objects.get(username="customer")
    assert not customer.is_staff
    assert customer.client_membership.client.name == "Acme Hosting"

    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["billing"]:
            assert client.login(username="billing", password=parts[1])
            break
    else:
        pytest.fail("the billing login is not printed")
    assert client.get("/admin/accounts/billingaccount/").status_code == 200


def test_seed_demo_turns_a_month_of_usage_into_invoices_in_every_platform_state():
    from accounts.models import CreditStatus
    from invoicing.models import Invoice, InvoiceKind
    from invoicing.selectors import invoice_mismatches

    seed()
    states = set(Invoice.objects.values_list("status", flat=True))
    # closed: waiting for the external ERP; open lasts only the billing day itself.
    assert {"approved", "overdue", "paid", "cancelled", "closed"} <= states
    kinds = set(Invoice.objects.values_list("kind", flat=True))
    assert kinds == {InvoiceKind.CREDIT, InvoiceKind.POSTPAID, InvoiceKind.STATEMENT, "manual"}
    delta = BillingAccount.objects.get(client__name="Delta Logistics")
    assert delta.credit_status == CreditStatus.BLOCKED
    assert delta.credit_blocked_by_overdue
    assert list(invoice_mismatches()) == []
    assert list(ledger_mismatches()) == []


def test_seed_demo_leaves_one_order_waiting_for_a_manager_in_manual_mode():
    from approvals.models import ManualOperation
    from approvals.services import system_settings
    from subscriptions.models import Subscription

    seed()
    seed()
    assert system_settings().postpaid_permission_mode == "manual"
    (operation,) = ManualOperation.objects.all()
    assert (operation.status, operation.account.client.name) == ("pending", "Helios SARL")
    assert operation.account.postpaid_permission == "under_review"
    waiting = Subscription.objects.get(status="pending_approval")
    assert waiting.account_id == operation.account_id
    # a trial ordered in manual mode is never gated
    assert Subscription.objects.get(account__client__name="Everest Media").status == "active"


def test_seed_demo_on_a_billing_day_leaves_last_months_erp_invoices_open():
    """On the 1st the ERP's invoices of last month are still open (closed the next day),
    and the client who paid its older invoice is not left blocked for it."""
    from invoicing.models import Invoice

    with time_machine.travel(datetime(2027, 3, 1, 10, tzinfo=UTC)):
        seed()
        first = row_counts()
        assert "nothing new was created" in seed()
        assert row_counts() == first
        states = set(Invoice.objects.values_list("status", flat=True))
        assert {"approved", "overdue", "paid", "cancelled", "open"} <= states
        assert account("Helios SARL").credit_status == CreditStatus.ACTIVE
        assert list(ledger_mismatches()) == []
