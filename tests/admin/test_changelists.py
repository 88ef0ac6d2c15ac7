"""The big lists load fast for billing staff: a bounded number of queries, not one per row."""

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from accounts.models import CreditLimitScope, PaymentMode
from accounts.services import account_convert_mode
from ledger.services import ledger_charge, ledger_reserve
from tests.factories import AccountFactory
from tests.html import parse

MODES = [
    {"payment_mode": PaymentMode.PREPAID, "funds": "100"},
    {"payment_mode": PaymentMode.POSTPAID},
    {"payment_mode": PaymentMode.CREDIT_LIMIT, "credit_limit": "500"},
    {
        "payment_mode": PaymentMode.CREDIT_LIMIT,
        "credit_limit": "50",
        "credit_limit_scope": CreditLimitScope.MONTHLY_UNBILLED,
        "currency": "EUR",
    },
]


@pytest.fixture
def thirty_accounts(db):
    accounts = []
    for n in range(30):
        account = AccountFactory(name=f"Client {n:02d}", **MODES[n % len(MODES)])
        ledger_charge(
            account_id=account.pk,
            amount="1.234567",
            kind="usage",
            description=f"usage {n}",
            idempotency_key=f"usage-{n}",
        )
        ledger_reserve(account_id=account.pk, amount="0.5", idempotency_key=f"hold-{n}")
        accounts.append(account)
    account_convert_mode(
        account_id=accounts[0].pk,
        payment_mode=PaymentMode.POSTPAID,
        reason="Trusted client",
    )
    return accounts


def result_rows(html):
    """The change list's rows by the text of their first column: {column: cell text}."""
    table = parse(html).find("table", id="result_list")
    assert table is not None, "no result list on the page"
    rows = {}
    for row in table.find("tbody").find_all("tr"):
        cells = [cell for cell in row.children if getattr(cell, "tag", None) in ("th", "td")]
        rows[cells[0].text] = {
            cell.attrs["class"].split()[0].removeprefix("field-"): cell.text for cell in cells
        }
    return rows


CHANGELISTS = [
    "accounts_client",
    "accounts_billingaccount",
    "ledger_entry",
    "ledger_reservation",
    "ledger_balance",
    "accounts_paymentmodechange",
    "accounts_accountstatechange",
]


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_changelist_loads_for_billing_staff_in_a_bounded_number_of_queries(
    billing, thirty_accounts, changelist, django_assert_max_num_queries
):
    url = reverse(f"admin:{changelist}_changelist")
    with django_assert_max_num_queries(10):
        response = billing.get(url)
    assert response.status_code == 200


def test_account_list_shows_mode_balance_and_unlimited_usable_for_postpaid(billing, db):
    AccountFactory(name="Paygo Ltd", payment_mode=PaymentMode.POSTPAID)
    AccountFactory(name="Funded Inc", funds="1234.5")
    response = billing.get(reverse("admin:accounts_billingaccount_changelist"))
    rows = result_rows(response.content.decode())

    assert rows["Paygo Ltd"]["mode"] == "Postpaid"
    assert rows["Paygo Ltd"]["usable"] == "unlimited"
    assert rows["Funded Inc"]["mode"] == "Prepaid"
    assert rows["Funded Inc"]["balance"] == "1,234.50 USD"
    assert rows["Funded Inc"]["usable"] == "1,234.50 USD"


def test_account_list_searches_by_client_email(billing, db):
    AccountFactory(name="Needle Corp", email="accounts@needle.example")
    AccountFactory(name="Haystack Corp")
    response = billing.get(
        reverse("admin:accounts_billingaccount_changelist"), {"q": "needle.example"}
    )
    html = response.content.decode()
    assert "Needle Corp" in html
    assert "Haystack Corp" not in html


def test_client_list_shows_account_currency_mode_and_balance(billing, db):
    AccountFactory(name="Euro Shop", currency="EUR", funds="10.5")
    response = billing.get(reverse("admin:accounts_client_changelist"))
    html = response.content.decode()
    assert "Euro Shop" in html
    assert "EUR" in html
    assert "10.50" in html
    assert "account&nbsp;→" in html


def test_account_list_filters_by_payment_mode(billing, db):
    AccountFactory(name="Credit Co", payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="10")
    AccountFactory(name="Cash Co")
    response = billing.get(
        reverse("admin:accounts_billingaccount_changelist"),
        {"payment_mode__exact": PaymentMode.CREDIT_LIMIT},
    )
    html = response.content.decode()
    assert "Credit Co" in html
    assert "Cash Co" not in html


def test_amounts_keep_sub_cent_digits_in_lists(billing, prepaid):
    ledger_charge(account_id=prepaid.pk, amount="0.000123", kind="usage", idempotency_key="tiny")
    response = billing.get(reverse("admin:ledger_entry_changelist"))
    assert "-0.000123" in strip_tags(response.content.decode())
