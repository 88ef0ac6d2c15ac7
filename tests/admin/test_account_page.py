"""The account page: the five figures up front, mode fields read-only, history shown."""

import pytest

from accounts.models import BillingAccount, PaymentMode
from accounts.services import account_block_credit, account_convert_mode
from ledger.services import ledger_charge, ledger_reserve
from tests.factories import AccountFactory, staff_user
from tests.html import parse

from .helpers import account_url


def figure(html, key):
    """The text of one figure card on the page."""
    start = html.index(f'data-figure="{key}"')
    end = html.index("</div>\n  </div>", start)
    return html[start:end]


def test_account_page_shows_the_five_figures_with_currency(billing, db):
    account = AccountFactory(
        name="Figures Ltd", payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100", funds="10"
    )
    ledger_charge(account_id=account.pk, amount="25.5", idempotency_key="c1")
    ledger_reserve(account_id=account.pk, amount="4.25", idempotency_key="h1")

    html = billing.get(account_url(account)).content.decode()

    assert "-15.50" in figure(html, "balance")
    assert "Balance" in figure(html, "balance")
    assert "-25.50" in figure(html, "unbilled")
    assert "Expecting invoice" in figure(html, "unbilled")
    assert "10.00" in figure(html, "amount_due")
    assert "4.25" in figure(html, "reserved")
    assert "80.25" in figure(html, "usable")  # -15.50 + 100 - 4.25
    assert "USD" in figure(html, "usable")


def test_postpaid_account_page_shows_usable_as_unlimited(billing, db):
    account = AccountFactory(payment_mode=PaymentMode.POSTPAID)
    html = billing.get(account_url(account)).content.decode()
    assert "unlimited" in figure(html, "usable")


def test_mode_fields_are_read_only_on_the_change_form(billing, prepaid):
    response = billing.post(
        account_url(prepaid),
        {
            "payment_mode": PaymentMode.POSTPAID,
            "credit_limit": "1000",
            "credit_status": "blocked",
            "postpaid_permission": "approved",
            "payment_term_days": "30",
            "mode_changes-TOTAL_FORMS": "0",
            "mode_changes-INITIAL_FORMS": "0",
            "state_changes-TOTAL_FORMS": "0",
            "state_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = BillingAccount.objects.get(pk=prepaid.pk)
    assert account.payment_mode == PaymentMode.PREPAID
    assert account.credit_limit is None
    assert account.credit_status == "active"
    assert account.postpaid_permission == "not_requested"
    assert account.payment_term_days == 30
    assert not account.mode_changes.exists()


def test_payment_term_over_a_year_is_a_form_error(billing, prepaid):
    response = billing.post(
        account_url(prepaid),
        {
            "payment_term_days": "400",
            "mode_changes-TOTAL_FORMS": "0",
            "mode_changes-INITIAL_FORMS": "0",
            "state_changes-TOTAL_FORMS": "0",
            "state_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "less than or equal to 365" in response.content.decode()
    assert BillingAccount.objects.get(pk=prepaid.pk).payment_term_days == 14


def history_rows(html, prefix):
    """The rows of one history inline, top to bottom: {column: cell text}."""
    group = parse(html).find("div", id=f"{prefix}-group")
    assert group is not None, f"no {prefix} history on the page"
    rows = []
    for row in group.find("tbody").find_all("tr"):
        cells = {
            td.attrs["class"].split()[0].removeprefix("field-"): td.text
            for td in row.find_all("td")
            if (td.attrs.get("class") or "").startswith("field-")
        }
        if cells:
            rows.append(cells)
    return rows


def test_account_page_shows_mode_and_credit_history_newest_first(billing, billing_user, db):
    account = AccountFactory(name="History Co")
    # Someone other than the viewer changed the mode first, so the name in a row can
    # only come from the history itself (the viewer's name is in the page header).
    olga = staff_user("Billing staff", username="olga")
    account_convert_mode(
        account_id=account.pk,
        payment_mode=PaymentMode.POSTPAID,
        reason="First reason",
        changed_by=olga,
    )
    account_convert_mode(
        account_id=account.pk,
        payment_mode=PaymentMode.CREDIT_LIMIT,
        credit_limit="750",
        reason="Second reason",
        changed_by=billing_user,
    )
    account_block_credit(account_id=account.pk, reason="Blocked for the test")

    html = billing.get(account_url(account)).content.decode()

    modes = history_rows(html, "mode_changes")
    assert [(row["who"], row["reason"]) for row in modes] == [
        ("billie", "Second reason"),
        ("olga", "First reason"),
    ]
    assert modes[0]["change"] == "Postpaid (pay-as-you-go) → Credit limit"
    assert "750.00" in modes[0]["limits"]
    states = history_rows(html, "state_changes")
    blocked = [row for row in states if row["reason"] == "Blocked for the test"]
    assert len(blocked) == 1
    assert blocked[0]["change"] == "active → blocked"
    assert blocked[0]["who"] == "system"


@pytest.mark.parametrize(
    ("perm_fixture", "visible"),
    [("billing", True), ("viewer", False)],
)
def test_service_buttons_and_forms_follow_permissions(request, perm_fixture, visible, prepaid):
    client = request.getfixturevalue(perm_fixture)
    html = client.get(account_url(prepaid)).content.decode()
    markers = (f'href="{account_url(prepaid, "convert")}"', 'id="charge-form"', 'id="payment-form"')
    for marker in markers:
        assert (marker in html) is visible, marker


def test_block_button_only_for_active_credit_limit_accounts(billing, prepaid):
    credit = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="10")
    assert "Block credit" in billing.get(account_url(credit)).content.decode()
    assert "Block credit" not in billing.get(account_url(prepaid)).content.decode()
