"""The books in the admin: entries read-only for everyone; holds released via the service."""

import pytest
from django.contrib import admin
from django.urls import reverse

from ledger.models import Balance, Entry, Reservation, ReservationStatus
from ledger.services import ledger_commit, ledger_reserve
from tests.factories import AccountFactory, UserFactory


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_entries_have_no_add_change_or_delete_in_the_admin_even_for_a_superuser(
    superuser_client, prepaid, rf
):
    entry = Entry.objects.get(account=prepaid)
    model_admin = admin.site._registry[Entry]
    request = rf.get("/")
    request.user = UserFactory(username="root2", is_staff=True, is_superuser=True)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert "delete_selected" not in model_admin.get_actions(request)

    assert superuser_client.get(reverse("admin:ledger_entry_add")).status_code == 403
    delete_url = reverse("admin:ledger_entry_delete", args=[entry.pk])
    assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
    change_url = reverse("admin:ledger_entry_change", args=[entry.pk])
    page = superuser_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    superuser_client.post(change_url, {"amount": "999", "description": "edited"})
    assert Entry.objects.get(pk=entry.pk).amount == entry.amount


def test_balance_rows_are_read_only(superuser_client, prepaid):
    url = reverse("admin:ledger_balance_change", args=[prepaid.pk])
    assert 'name="_save"' not in superuser_client.get(url).content.decode()
    assert superuser_client.get(reverse("admin:ledger_balance_add")).status_code == 403


def test_entries_list_filters_by_account_and_searches_by_client_name(billing, db):
    first = AccountFactory(name="Alpha Ltd", funds="5")
    AccountFactory(name="Beta Ltd", funds="7")
    url = reverse("admin:ledger_entry_changelist")

    by_account = billing.get(url, {"account": first.pk}).content.decode()
    assert "Alpha Ltd" in by_account and "Beta Ltd" not in by_account

    by_name = billing.get(url, {"q": "Beta"}).content.decode()
    assert "Beta Ltd" in by_name and "Alpha Ltd" not in by_name


def test_release_selected_holds_releases_pending_ones_and_reports_the_rest(billing, prepaid):
    pending = ledger_reserve(account_id=prepaid.pk, amount="10", idempotency_key="h1").reservation
    committed = ledger_reserve(account_id=prepaid.pk, amount="5", idempotency_key="h2").reservation
    ledger_commit(reservation_id=committed.pk)

    response = billing.post(
        reverse("admin:ledger_reservation_changelist"),
        {"action": "release_holds", "_selected_action": [pending.pk, committed.pk]},
        follow=True,
    )

    html = response.content.decode()
    assert "Released 1 hold(s)" in html
    assert "only a pending hold can be released" in html
    assert Reservation.objects.get(pk=pending.pk).status == ReservationStatus.RELEASED
    assert Reservation.objects.get(pk=committed.pk).status == ReservationStatus.COMMITTED
    assert Balance.objects.get(account=prepaid).reserved == 0


def test_release_action_needs_the_change_reservation_permission(viewer, prepaid):
    hold = ledger_reserve(account_id=prepaid.pk, amount="10", idempotency_key="h1").reservation
    response = viewer.post(
        reverse("admin:ledger_reservation_changelist"),
        {"action": "release_holds", "_selected_action": [hold.pk]},
    )
    assert response.status_code in (200, 302)
    assert Reservation.objects.get(pk=hold.pk).status == ReservationStatus.PENDING
