"""The operator dashboard on the admin index: receivables by age, counts, billed per month."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import account_block_credit
from approvals.services import manual_operation_open_postpaid
from billing_site import dashboard
from invoicing.models import Invoice
from ledger.services import lock_books
from tests.factories import AccountFactory, UserFactory, staff_user
from tests.invoicing.helpers import at, charge, pay, run_cycle

pytestmark = pytest.mark.django_db

DUE = date(2026, 11, 15)  # invoices issued 2026-11-01 with a 14-day term


def credit_account(currency="USD", limit="1000"):
    with time_machine.travel(at(2026, 10, 1, 8)):
        return AccountFactory(
            payment_mode="credit_limit", credit_limit=limit, currency=currency, payment_term_days=14
        )


@pytest.fixture
def billed():
    """Two USD invoices (100, and 250 of which 40 paid) and one EUR invoice (70)."""
    usd_a, usd_b, eur = credit_account(), credit_account(), credit_account("EUR")
    charge(usd_a, "100", at(2026, 10, 10, 12))
    charge(usd_b, "250", at(2026, 10, 11, 12))
    charge(eur, "70", at(2026, 10, 12, 12))
    run_cycle("2026-11-01")
    pay(usd_b, "40", at(2026, 11, 2, 9))
    return {"usd_a": usd_a, "usd_b": usd_b, "eur": eur}


def buckets(today):
    return {
        row.currency: {b.key: (b.amount, b.count) for b in row.buckets if b.count}
        for row in dashboard.dashboard_aging(today=today)
    }


@pytest.mark.parametrize(
    ("days_past_due", "bucket"),
    [
        (-5, "current"),
        (0, "current"),  # the due date itself is still in time
        (1, "d1_30"),
        (30, "d1_30"),
        (31, "d31_60"),
        (60, "d31_60"),
        (61, "d61_90"),
        (90, "d61_90"),
        (91, "d90_plus"),
        (400, "d90_plus"),
    ],
)
def test_outstanding_is_bucketed_by_days_past_the_due_date(billed, days_past_due, bucket):
    today = DUE + timedelta(days=days_past_due)
    assert Invoice.objects.filter(due_date=DUE).count() == 3
    assert buckets(today) == {
        "EUR": {bucket: (Decimal("70"), 1)},
        "USD": {bucket: (Decimal("310"), 2)},  # 100 + (250 − 40 paid)
    }


def test_paid_invoices_and_invoices_without_due_date_leave_or_stay_current(billed):
    pay(billed["usd_a"], "100", at(2026, 11, 3, 9))  # fully paid: no longer outstanding
    with time_machine.travel(at(2026, 11, 1, 8)):
        postpaid = AccountFactory(payment_mode="postpaid")
    charge(postpaid, "12.5", at(2026, 11, 5, 12))
    run_cycle("2026-12-01")
    rows = {row.currency: row for row in dashboard.dashboard_aging(today=date(2027, 3, 1))}
    by_key = {b.key: b for b in rows["USD"].buckets}
    assert (by_key["d90_plus"].amount, by_key["d90_plus"].count) == (Decimal("210"), 1)
    postpaid_invoice = Invoice.objects.get(account=postpaid)
    assert (postpaid_invoice.status, postpaid_invoice.due_date) == ("approved", None)
    assert (by_key["current"].amount, by_key["current"].count) == (Decimal("12.5"), 1)


def test_billed_per_month_covers_twelve_months_per_currency_with_zeros(billed):
    series = {s.currency: s for s in dashboard.dashboard_billed_per_month(today=date(2026, 11, 20))}
    assert set(series) == {"EUR", "USD"}
    usd = series["USD"]
    assert usd.months[0].month == date(2025, 12, 1)
    assert usd.months[-1].month == date(2026, 11, 1)
    assert len(usd.months) == 12
    assert usd.months[-1].amount == Decimal("350") and usd.months[-1].count == 2
    assert all(m.amount == 0 and m.count == 0 for m in usd.months[:-1])
    assert series["EUR"].total == Decimal("70")
    # A year later the November 2026 invoices have left the window.
    assert dashboard.dashboard_billed_per_month(today=date(2027, 12, 1)) == []


def test_blocked_accounts_and_pending_operations_are_counted(billed):
    staff = staff_user("Managers", username="manny")
    account_block_credit(account_id=billed["usd_a"].pk, reason="Fraud check", changed_by=staff)
    postpaid = AccountFactory(payment_mode="postpaid")
    with transaction.atomic():
        lock_books(postpaid.pk)
        manual_operation_open_postpaid(account_id=postpaid.pk, requested_by=None)
    assert dashboard.dashboard_blocked_accounts() == 1
    pending = dashboard.dashboard_pending_operations()
    assert pending["count"] == 1 and pending["oldest"] is not None


def test_admin_index_shows_the_dashboard_with_links_to_filtered_lists(
    billed, client, django_assert_max_num_queries
):
    with time_machine.travel(at(2026, 12, 20, 9)):
        run_cycle("2026-12-20")  # due 11-15: 35 days late, overdue, accounts blocked
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        with django_assert_max_num_queries(14):
            response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="billing-dashboard"' in html
    assert "/admin/invoicing/invoice/?status__exact=overdue" in html
    assert "/admin/accounts/billingaccount/?credit_status__exact=blocked" in html
    assert reverse("admin:approvals_pendingmanualoperation_changelist") in html
    assert 'data-card="overdue"' in html and "<svg" in html
    assert "310.00" in html and "70.00" in html
    assert "31–60 days" in html
    ctx = response.context
    assert ctx is not None
    assert 'data-bucket="d31_60"' in html
    # Every link of the dashboard opens a changelist that accepts its filters.
    links = set(re.findall(r'href="(/admin/[^"]+)"', html.split('id="billing-dashboard"')[1]))
    links = {link.replace("&amp;", "&") for link in links if "?" in link}
    assert len(links) > 10
    for link in sorted(links)[:40]:
        page = client.get(link)
        assert page.status_code == 200, link
        assert "?e=1" not in page.get("Location", ""), link


def test_dashboard_query_count_does_not_grow_with_the_data(client, django_assert_num_queries):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as empty:
        client.get(reverse("admin:index"))
    for n in range(6):
        account = credit_account()
        charge(account, str(10 + n), at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    with django_assert_num_queries(len(empty.captured_queries)):
        client.get(reverse("admin:index"))


def test_staff_without_invoice_permission_see_only_what_they_may(client):
    viewer = UserFactory(username="viewer", is_staff=True)
    client.force_login(viewer)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="billing-dashboard"' not in html


def test_billing_staff_see_the_dashboard(client, billed):
    client.force_login(staff_user("Billing staff", username="billie"))
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="billing-dashboard"' in html
