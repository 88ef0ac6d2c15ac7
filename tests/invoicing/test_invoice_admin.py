"""The invoice admin's FSM buttons act through the services and respect permissions."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from invoicing.models import Invoice, InvoiceStatus, InvoiceStatusChange
from invoicing.services import invoicing_run_month
from ledger.models import Entry, EntryKind
from ledger.selectors import account_figures
from ledger.services import ledger_charge
from tests.factories import AccountFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def credit_invoice():
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        ledger_charge(account_id=account.pk, amount="12.345", idempotency_key="c1")
    invoicing_run_month(run_date=date(2026, 11, 1))
    return Invoice.objects.get(account=account)


def _transition_url(invoice, name):
    return f"/admin/invoicing/invoice/{invoice.pk}/transition/{name}/"


def test_manager_voids_an_invoice_from_the_admin_and_the_ledger_is_reversed(client, credit_invoice):
    manager = staff_user("Managers")
    client.force_login(manager)
    page = client.get(f"/admin/invoicing/invoice/{credit_invoice.pk}/change/")
    assert page.status_code == 200
    assert b'value="cancel"' in page.content

    response = client.post(_transition_url(credit_invoice, "cancel"), {"reason": "Duplicate"})
    assert response.status_code == 302
    invoice = Invoice.objects.get(pk=credit_invoice.pk)
    assert invoice.status == InvoiceStatus.CANCELLED
    reversal = Entry.objects.get(account=invoice.account, kind=EntryKind.ADJUSTMENT)
    assert reversal.amount == invoice.total
    # −12.345 charged, −0.005 rounding to 12.35, +12.35 reversed: nothing owed.
    assert invoice.total == Decimal("12.35")
    assert account_figures(invoice.account_id).balance == 0
    log = InvoiceStatusChange.objects.filter(invoice=invoice).last()
    assert (log.to_status, log.changed_by, log.reason) == ("cancelled", manager, "Duplicate")


def test_billing_staff_sees_no_void_button_and_cannot_post_the_transition(client, credit_invoice):
    clerk = staff_user("Billing staff")
    client.force_login(clerk)
    page = client.get(f"/admin/invoicing/invoice/{credit_invoice.pk}/change/")
    assert page.status_code == 200
    assert b'value="cancel"' not in page.content

    # The mixin's plain button path, posted by hand: the service still refuses.
    response = client.post(
        f"/admin/invoicing/invoice/{credit_invoice.pk}/change/",
        {"_fsm_transition_to": "cancel"},
    )
    assert response.status_code in (302, 403)
    assert Invoice.objects.get(pk=credit_invoice.pk).status == InvoiceStatus.APPROVED
    assert not Entry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()


def test_void_without_a_reason_is_refused_and_changes_nothing(client, credit_invoice):
    client.force_login(staff_user("Managers"))
    response = client.post(_transition_url(credit_invoice, "cancel"), {"reason": ""})
    assert response.status_code == 200  # the form again, with its error
    assert b"This field is required" in response.content
    assert Invoice.objects.get(pk=credit_invoice.pk).status == InvoiceStatus.APPROVED


def test_invoice_list_loads_with_a_bounded_number_of_queries(
    client, credit_invoice, django_assert_max_num_queries
):
    for n in range(10):
        account = AccountFactory(payment_mode="postpaid")
        with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 2 + n, 9))):
            ledger_charge(account_id=account.pk, amount="3", idempotency_key=f"x{n}")
    invoicing_run_month(run_date=date(2026, 11, 1))
    client.force_login(staff_user("Billing staff"))
    with django_assert_max_num_queries(12):
        response = client.get("/admin/invoicing/invoice/")
    assert response.status_code == 200
    assert response.content.count(b"INV-2026-") >= 11


def test_a_past_due_date_is_refused_when_approving(client, credit_invoice):
    from invoicing.admin.forms import ApproveForm

    form = ApproveForm(data={"due_date": (timezone.localdate() - timedelta(days=1)).isoformat()})
    assert not form.is_valid()
    assert "in the past" in str(form.errors)


def test_the_invoice_page_links_to_the_entries_it_billed_and_each_entry_names_it(
    client, credit_invoice
):
    client.force_login(staff_user("Billing staff"))
    page = client.get(f"/admin/invoicing/invoice/{credit_invoice.pk}/change/").content.decode()
    assert f"/admin/ledger/entry/?invoice={credit_invoice.pk}" in page
    assert "billing instants before 2026-11-01 00:00" in page

    listed = client.get(f"/admin/ledger/entry/?invoice={credit_invoice.pk}").context["cl"]
    billed = {e.kind for e in listed.queryset}
    assert billed == {"charge", "rounding"}
    later = Entry.objects.filter(account=credit_invoice.account, kind="charge").get()
    entry_page = client.get(f"/admin/ledger/entry/{later.pk}/change/").content.decode()
    assert credit_invoice.number in entry_page


def test_an_entry_not_invoiced_yet_says_so_in_the_admin(client):
    account = AccountFactory(payment_mode="postpaid")
    entry = ledger_charge(account_id=account.pk, amount="2", idempotency_key="fresh").entry
    client.force_login(staff_user("Billing staff"))
    page = client.get(f"/admin/ledger/entry/{entry.pk}/change/").content.decode()
    assert "not invoiced yet" in page
