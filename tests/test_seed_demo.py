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
from tests.html import parse

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


def test_the_manager_opens_the_waiting_manual_operation_on_demo_data(client):
    """The queue entry shows the waiting order's monthly price in the account's currency."""
    from approvals.models import ManualOperation

    seed()
    (operation,) = ManualOperation.objects.filter(status="pending")
    assert client.login(username="manager", password="back-office-manager")

    response = client.get(f"/admin/approvals/pendingmanualoperation/{operation.pk}/change/")

    assert response.status_code == 200
    orders = parse(response.content).find("div", class_="form-row field-orders")
    assert orders is not None
    waiting = orders.find("div", class_="readonly").text
    assert "SIP trunk, 30 channels" in waiting
    assert "150.00 EUR a month" in waiting


def test_every_demo_plan_is_sold_in_the_currency_of_the_accounts_that_buy_it():
    from subscriptions.models import Plan, Subscription

    seed()
    currencies = dict(Plan.objects.values_list("code", "currency"))
    assert all(len(code) == 3 and code.isupper() for code in currencies.values()), currencies
    assert {"USD", "EUR"} <= set(currencies.values())
    for subscription in Subscription.objects.select_related("plan", "account"):
        assert subscription.plan.currency == subscription.account.currency, subscription


def _logins(output: str) -> dict[str, list[str]]:
    """The printed login table: username → the rest of its row."""
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0] in {"admin", "billing", "manager", "customer"} and len(parts) > 2:
            rows[parts[0]] = parts[1:]
    return rows


def test_seed_demo_prints_where_each_login_signs_in(monkeypatch):
    monkeypatch.setenv("PORT", "9000")
    rows = _logins(seed())

    assert set(rows) == {"admin", "billing", "manager", "customer"}
    for staff in ("admin", "billing", "manager"):
        assert "http://127.0.0.1:9000/admin/" in rows[staff], rows[staff]
        assert "http://127.0.0.1:9000/portal/" not in rows[staff]
    assert "http://127.0.0.1:9000/portal/" in rows["customer"], rows["customer"]
    assert "http://127.0.0.1:9000/admin/" not in rows["customer"]


def test_a_demo_invoice_paid_before_its_due_date_never_goes_overdue(
    django_capture_on_commit_callbacks,
):
    """Helios pays its October invoice on 6 Nov, due 15 Nov: seeded on 1 Dec it is paid,
    was never overdue, nobody was told it was, and its credit is not blocked for it."""
    from django.core import mail

    from invoicing.models import Invoice, InvoiceKind, InvoiceStatus, InvoiceStatusChange
    from notifications.models import Event

    with (
        time_machine.travel(datetime(2026, 12, 1, 10, tzinfo=UTC)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        seed()  # the e-mails go out as after a commit
    helios = account("Helios SARL")
    october = Invoice.objects.get(
        account=helios, kind=InvoiceKind.CREDIT, period_start="2026-10-01"
    )

    assert october.status == InvoiceStatus.PAID
    assert october.due_date.isoformat() == "2026-11-15"
    assert october.paid_at.date().isoformat() <= "2026-11-15"
    history = list(
        InvoiceStatusChange.objects.filter(invoice=october)
        .order_by("changed_at", "id")
        .values_list("to_status", flat=True)
    )
    assert InvoiceStatus.OVERDUE not in history
    assert history[-1] == InvoiceStatus.PAID
    overdue_events = Event.objects.filter(type="invoice.overdue", account=helios)
    assert not overdue_events.exists()
    to_helios = [m.subject for m in mail.outbox if m.to == [helios.client.email]]
    assert f"Invoice {october.number}: 300.00 EUR, due 2026-11-15" in to_helios
    assert f"Invoice {october.number} is overdue" not in to_helios
    assert "Your credit is blocked" not in to_helios
    assert not Event.objects.filter(type="credit.blocked", account=helios).exists()
    assert helios.credit_status == CreditStatus.ACTIVE
    assert not helios.credit_blocked_by_overdue
    # The other client who left its October invoice unpaid is overdue and blocked for it.
    delta = account("Delta Logistics")
    assert Invoice.objects.get(account=delta, period_start="2026-10-01").status == "overdue"
    assert delta.credit_blocked_by_overdue
    assert list(ledger_mismatches()) == []
