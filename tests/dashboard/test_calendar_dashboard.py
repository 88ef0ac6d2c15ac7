"""The admin index says where the billing calendar is, and warns when a day slipped."""

from datetime import date, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from billing_site import cycle, tasks
from billing_site.models import CalendarStep
from invoicing.models import Invoice
from tests.factories import AccountFactory, UserFactory, staff_user
from tests.html import parse
from tests.invoicing.helpers import at, charge

pytestmark = pytest.mark.django_db


def cycle_command(when: datetime) -> None:
    """`run_billing_cycle` without --date, as the daily firing or the watchdog runs it."""
    with time_machine.travel(when):
        call_command("run_billing_cycle", stdout=StringIO())


def admin_index(client, when: datetime):
    with time_machine.travel(when):
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return parse(response.content)


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def beat_fires(when: datetime, capture) -> None:
    """Beat's daily task (or the hourly watchdog) as a worker runs it, with what it queues
    after commit (the monthly run's chunks) run by workers too."""
    with time_machine.travel(when), capture(execute=True):
        tasks.run_billing_cycle.delay()


def test_the_dashboard_warns_of_a_missed_day_until_the_catch_up_clears_it(
    root, django_capture_on_commit_callbacks
):
    with time_machine.travel(at(2026, 10, 1, 8)):
        account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    charge(account, "40", at(2026, 11, 10, 12))
    beat_fires(at(2026, 11, 30, 0, 10), django_capture_on_commit_callbacks)
    page = admin_index(root, at(2026, 11, 30, 9))
    assert "2026-11-30" in page.find("a", data_card="calendar").text
    assert page.find(data_calendar="behind") is None

    # The 1st's firing is lost; at 07:00 on the 2nd both days are past their 06:00 deadline.
    page = admin_index(root, at(2026, 12, 2, 7))
    warning = page.find(data_calendar="behind")
    assert warning is not None and warning.attrs.get("role") == "alert"
    days = [item.attrs["data-date"] for item in warning.find_all("li", data_date=True)]
    assert days == ["2026-12-01", "2026-12-02"]
    assert "not done by 06:00" in warning.text
    card = page.find("a", data_card="calendar")
    assert "alert" in card.attrs["class"].split() and "2026-11-30" in card.text

    beat_fires(at(2026, 12, 2, 7, 5), django_capture_on_commit_callbacks)
    page = admin_index(root, at(2026, 12, 2, 7, 10))
    assert page.find(data_calendar="behind") is None
    card = page.find("a", data_card="calendar")
    assert "alert" not in card.attrs["class"].split() and "2026-12-02" in card.text
    assert Invoice.objects.get(account=account).issued_on == date(2026, 12, 1)


def test_a_failed_step_shows_as_behind_before_the_deadline(root, monkeypatch):
    cycle_command(at(2026, 12, 1, 0, 10))

    def mail_server_down(**kwargs):
        raise ConnectionRefusedError("the mail server refused the connection")

    monkeypatch.setattr(cycle, "invoicing_remind_due", mail_server_down)
    with pytest.raises(ConnectionRefusedError):
        cycle_command(at(2026, 12, 2, 0, 10))

    page = admin_index(root, at(2026, 12, 2, 0, 20))
    warning = page.find(data_calendar="behind")
    assert warning is not None
    item = warning.find("li", data_date="2026-12-02")
    assert "Remind due dates" in item.text and "refused the connection" in item.text


def test_a_day_before_its_deadline_is_not_a_warning(root):
    cycle_command(at(2026, 12, 1, 0, 10))
    page = admin_index(root, at(2026, 12, 2, 5))  # the 2nd has not run yet; due by 06:00
    assert page.find(data_calendar="behind") is None
    assert "2026-12-01" in page.find("a", data_card="calendar").text


def test_billing_staff_read_the_calendar_rows_and_cannot_change_them(client):
    cycle_command(at(2026, 12, 1, 0, 10))
    client.force_login(staff_user("Billing staff", username="billie"))

    page = admin_index(client, at(2026, 12, 1, 9))
    assert page.find("a", data_card="calendar") is not None
    changelist = client.get(reverse("admin:billing_site_calendarstep_changelist"))
    assert changelist.status_code == 200
    rows = parse(changelist.content).find("table", id="result_list").find("tbody")
    assert len(rows.find_all("tr")) == len(cycle.STEPS)

    row = CalendarStep.objects.get(step="mark_overdue")
    change_url = reverse("admin:billing_site_calendarstep_change", args=[row.pk])
    assert client.get(reverse("admin:billing_site_calendarstep_add")).status_code == 403
    assert 'name="_save"' not in client.get(change_url).content.decode()
    assert client.post(change_url, {"count": "99"}).status_code == 403
    assert CalendarStep.objects.get(pk=row.pk).count == 0
