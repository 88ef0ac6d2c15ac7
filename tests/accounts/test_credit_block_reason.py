"""Blocked credit is explained by the block's recorded reason, wherever the client meets it:
the refusal of a spend (and the API's 402), the e-mail and webhook, and the portal banner.
A block staff set by hand is not "because an invoice is overdue"."""

from datetime import date

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from accounts.models import BillingAccount, CreditStatus
from accounts.services import account_block_credit, account_unblock_credit, client_add_user
from invoicing.models import Invoice
from ledger.exceptions import CreditBlocked
from ledger.services import ledger_charge
from notifications.models import Event
from subscriptions.services import plan_create, subscription_order
from tests.api.conftest import client_for, new_key
from tests.factories import AccountFactory, staff_user
from tests.html import parse
from tests.invoicing.helpers import at, charge, pay, run_cycle

pytestmark = pytest.mark.django_db

REASON = "Payment promise broken; credit blocked until the debt is settled."


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` delivers what was queued for after commit (e-mail, webhooks)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def credit_account(db):
    with time_machine.travel(at(2026, 10, 1, 8)):
        return AccountFactory(name="Foxglove", payment_mode="credit_limit", credit_limit="250")


def staff_block(account, reason=REASON) -> BillingAccount:
    return account_block_credit(
        account_id=account.pk, reason=reason, changed_by=staff_user("Billing staff")
    )


def refusal(account) -> str:
    with pytest.raises(CreditBlocked) as refused:
        ledger_charge(account_id=account.pk, amount="1", idempotency_key=new_key())
    return refused.value.detail


def october_invoice(account) -> Invoice:
    """October's charge, invoiced on 1 Nov, due 15 Nov."""
    charge(account, "40", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    return Invoice.objects.get(account=account, period_start=date(2026, 10, 1))


def overdue_invoice(account) -> Invoice:
    """October's invoice, unpaid on 16 Nov: overdue."""
    invoice = october_invoice(account)
    run_cycle("2026-11-16")
    return Invoice.objects.get(pk=invoice.pk)


# -- what is recorded ----------------------------------------------------------------


def test_the_block_records_its_reason_on_the_account_and_unblocking_clears_it(credit_account):
    blocked = staff_block(credit_account)
    assert BillingAccount.objects.get(pk=credit_account.pk).credit_block_reason == REASON
    assert blocked.credit_block_reason == REASON

    account_unblock_credit(account_id=credit_account.pk, reason="Debt settled")
    assert BillingAccount.objects.get(pk=credit_account.pk).credit_block_reason == ""


# -- the refusal of a spend ----------------------------------------------------------


def test_a_spend_refused_by_a_staff_block_gives_the_staff_reason(credit_account):
    staff_block(credit_account)

    detail = refusal(credit_account)

    assert "Payment promise broken" in detail
    assert "overdue" not in detail


def test_a_spend_refused_by_the_overdue_rule_names_the_overdue_invoice(credit_account):
    invoice = overdue_invoice(credit_account)
    assert BillingAccount.objects.get(pk=credit_account.pk).credit_blocked_by_overdue

    detail = refusal(credit_account)

    assert f"Invoice {invoice.number} is overdue (due 2026-11-15)" in detail


def test_the_api_402_credit_blocked_detail_gives_the_staff_reason(credit_account):
    staff_block(credit_account)
    api = client_for(staff_user("Billing staff"))

    response = api.post(
        f"/api/v1/accounts/{credit_account.pk}/charges/",
        {"amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )

    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "credit_blocked"
    assert "Payment promise broken" in body["detail"]
    assert "overdue" not in body["detail"]


def test_a_postpay_order_refused_by_a_staff_block_gives_the_staff_reason(credit_account):
    plan_create(code="sip", name="SIP", price="10", currency="USD", charging="postpay")
    staff_block(credit_account)

    with pytest.raises(CreditBlocked) as refused:
        subscription_order(account_id=credit_account.pk, plan="sip")

    assert "Payment promise broken" in refused.value.detail
    assert "overdue" not in refused.value.detail


# -- the e-mail and the webhook data -----------------------------------------------------


def test_the_credit_blocked_email_gives_the_staff_reason(credit_account, committed):
    with committed():
        staff_block(credit_account)

    (event,) = Event.objects.filter(type="credit.blocked")
    assert event.data["credit_block_reason"] == REASON
    (message,) = [m for m in mail.outbox if m.subject == "Your credit is blocked"]
    assert "Payment promise broken" in message.body
    assert "overdue" not in message.body
    html = parse(message.alternatives[0][0])
    reason = html.find("p", class_="reason")
    assert reason is not None
    assert "Payment promise broken" in reason.text
    assert "overdue" not in html.text


def test_the_credit_blocked_email_of_the_overdue_rule_names_the_invoice(credit_account, committed):
    with committed():
        invoice = overdue_invoice(credit_account)

    (message,) = [m for m in mail.outbox if m.subject == "Your credit is blocked"]
    assert f"Invoice {invoice.number} is overdue" in message.body
    reason = parse(message.alternatives[0][0]).find("p", class_="reason")
    assert f"Invoice {invoice.number} is overdue" in reason.text


def test_the_credit_unblocked_email_does_not_speak_of_overdue_invoices_after_a_staff_block(
    credit_account, committed
):
    staff_block(credit_account)
    with committed():
        account_unblock_credit(account_id=credit_account.pk, reason="Debt settled")

    (message,) = [m for m in mail.outbox if m.subject == "Your credit is active again"]
    assert "overdue" not in message.body


# -- the portal banner ---------------------------------------------------------------------


def banner(client, account):
    user = client_add_user(
        client_id=account.client_id,
        username="fox",
        email="fox@example.com",
        password="portal-secret-1234",
    )
    client.force_login(user)
    page = parse(client.get(reverse("portal:dashboard")).content)
    return page.find("div", class_="msg msg-error notice")


def test_the_portal_banner_gives_the_staff_reason(client, credit_account):
    staff_block(credit_account)

    notice = banner(client, credit_account)

    assert notice is not None
    assert "Payment promise broken" in notice.text
    assert notice.find("a") is None  # nothing to pay to lift it


def test_a_staff_block_stays_explained_by_staff_when_an_invoice_goes_overdue_too(
    client, credit_account
):
    invoice = october_invoice(credit_account)
    staff_block(credit_account)
    run_cycle("2026-11-16")
    assert Invoice.objects.get(pk=invoice.pk).status == "overdue"
    account = BillingAccount.objects.get(pk=credit_account.pk)
    assert account.credit_status == CreditStatus.BLOCKED
    assert not account.credit_blocked_by_overdue  # paying the invoice would not lift it

    notice = banner(client, credit_account)

    assert "Payment promise broken" in notice.text
    assert "pay it to unblock" not in notice.text
    assert refusal(credit_account).count("Payment promise broken") == 1
    assert invoice.number not in refusal(credit_account)


def test_the_portal_banner_of_the_overdue_rule_links_the_invoice_to_pay(client, credit_account):
    invoice = overdue_invoice(credit_account)

    notice = banner(client, credit_account)

    assert f"invoice {invoice.number} (due 15 Nov 2026) is overdue" in notice.text
    link = notice.find("a")
    assert link.attrs["href"] == reverse("portal:invoice_detail", args=[invoice.pk])


def test_paying_the_invoice_the_block_named_moves_the_reason_to_the_one_still_overdue(
    credit_account,
):
    october = october_invoice(credit_account)
    charge(credit_account, "25", at(2026, 11, 10, 12))
    run_cycle("2026-12-01")
    run_cycle("2026-12-16")  # both overdue now; the block names the older one
    november = Invoice.objects.get(account=credit_account, period_start=date(2026, 11, 1))
    assert {october.number, november.number} == set(
        Invoice.objects.filter(status="overdue").values_list("number", flat=True)
    )
    assert october.number in refusal(credit_account)

    pay(credit_account, "40", at(2026, 12, 17, 9))  # pays October, oldest first

    account = BillingAccount.objects.get(pk=credit_account.pk)
    assert (account.credit_status, account.credit_blocked_by_overdue) == ("blocked", True)
    assert account.credit_block_reason == f"Invoice {november.number} is overdue (due 2026-12-15)."
    detail = refusal(credit_account)
    assert november.number in detail
    assert october.number not in detail
