"""A read-only related field links to the related object's page only for a viewer who
may open that page: billing staff see who booked an entry or voided an invoice as plain
text (Django linked them to the user's page, which answers billing staff 403); a
superuser still gets the link. Found by the crawl (tests/crawl)."""

from datetime import date
from pathlib import Path

import django.contrib.admin
import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.services import invoice_cancel, invoicing_run_month
from ledger.services import ledger_charge
from tests.factories import AccountFactory, UserFactory, staff_user
from tests.html import parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return staff_user("Managers", username="mona")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def user_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def cells(html, field_name):
    """The elements that show field `field_name` of a change page (fieldset rows) or
    of an inline (table cells), found by the `field-<name>` class the admin gives them."""
    wanted = f"field-{field_name}"
    return [
        element
        for element in parse(html).iter()
        if wanted in (element.attrs.get("class") or "").split()
    ]


def shown_value(html, field_name):
    """The one read-only value of `field_name` on a change page: its `div.readonly`."""
    [row] = [c for c in cells(html, field_name) if c.tag == "div"]
    [value] = row.find_all("div", class_="readonly")
    return value


def hrefs(element):
    return [a.attrs.get("href") for a in element.find_all("a")]


@pytest.fixture
def entry_by_manager(manager):
    account = AccountFactory(name="Linked Co", currency="USD", funds="50")
    return ledger_charge(
        account_id=account.pk, amount="5", idempotency_key="by-mona", created_by=manager
    ).entry


def test_billing_staff_see_who_booked_an_entry_as_text_not_as_a_link_to_the_user(
    client, manager, entry_by_manager
):
    client.force_login(staff_user("Billing staff", username="billie"))
    page = client.get(reverse("admin:ledger_entry_change", args=[entry_by_manager.pk]))
    assert page.status_code == 200
    html = page.content.decode()

    created_by = shown_value(html, "created_by")
    assert created_by.text == "mona"
    assert created_by.find("a") is None
    # The user's page answers billing staff 403: the reason no link may be shown.
    assert client.get(user_url(manager)).status_code == 403

    # A related object billing staff may open stays a link.
    account = shown_value(html, "account")
    account_url = reverse(
        "admin:accounts_billingaccount_change", args=[entry_by_manager.account_id]
    )
    assert hrefs(account) == [account_url]
    assert client.get(account_url).status_code == 200


def test_a_superuser_gets_the_link_to_the_user(client, superuser, manager, entry_by_manager):
    client.force_login(superuser)
    page = client.get(reverse("admin:ledger_entry_change", args=[entry_by_manager.pk]))
    created_by = shown_value(page.content.decode(), "created_by")
    [link] = created_by.find_all("a")
    assert (link.attrs["href"], link.text) == (user_url(manager), "mona")
    assert client.get(user_url(manager)).status_code == 200


@pytest.fixture
def invoice_voided_by_manager(manager):
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        ledger_charge(account_id=account.pk, amount="12", idempotency_key="c1")
    invoicing_run_month(run_date=date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    invoice_cancel(invoice_id=invoice.pk, reason="Duplicate", cancelled_by=manager)
    return invoice


def status_history_by(html, username):
    """The `changed by` cells of the invoice's status history (a tabular inline)
    naming `username`."""
    return [
        cell for cell in cells(html, "changed_by") if cell.tag == "td" and cell.text == username
    ]


def test_an_inline_shows_the_user_as_text_to_billing_staff_and_as_a_link_to_a_superuser(
    client, superuser, manager, invoice_voided_by_manager
):
    url = reverse("admin:invoicing_invoice_change", args=[invoice_voided_by_manager.pk])

    client.force_login(staff_user("Billing staff", username="billie"))
    [cell] = status_history_by(client.get(url).content.decode(), "mona")
    assert cell.find("a") is None

    client.force_login(superuser)
    [cell] = status_history_by(client.get(url).content.decode(), "mona")
    assert hrefs(cell) == [user_url(manager)]


DJANGO_TEMPLATES = Path(django.contrib.admin.__file__).parent / "templates"


@pytest.mark.parametrize("name", ["admin/includes/fieldset.html", "admin/edit_inline/tabular.html"])
def test_the_overridden_admin_templates_are_djangos_but_for_the_read_only_contents(name):
    """The two templates that show read-only fields are copies of Django's with one
    change; after a Django upgrade, copy them again (this test says when)."""
    theirs = (DJANGO_TEMPLATES / name).read_text()
    ours = (Path(settings.BASE_DIR) / "templates" / name).read_text()
    _header, loaded, body = ours.partition("{% load readonly_links %}\n")
    assert loaded, f"templates/{name} must load readonly_links on a line of its own"
    assert theirs.count("{{ field.contents }}") == 1
    assert body == theirs.replace("{{ field.contents }}", "{% readonly_contents field %}")
