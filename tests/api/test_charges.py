"""Charges and payments: one ledger call each, refusals as 402 with the service's words."""

import pytest

from accounts.models import PaymentMode
from accounts.services import account_block_credit
from ledger.models import Entry
from tests.factories import AccountFactory, staff_user

from .conftest import client_for, new_key

pytestmark = pytest.mark.django_db


def _charge(api, account, amount, **extra):
    return api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": amount, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )


def test_charge_answers_the_entry_and_the_figures_after_it(staff_api, account):
    response = _charge(staff_api, account, "12.5", description="Call to Lisbon", kind="usage")

    assert response.status_code == 201
    body = response.json()
    entry = Entry.objects.get(pk=body["id"])
    assert body["entry"] == entry.pk
    assert entry.kind == body["kind"] == "usage"
    assert entry.description == body["description"] == "Call to Lisbon"
    assert body["ledger_amount"] == {"amount": "-12.500000", "currency": "USD"}
    assert body["account"]["id"] == account.pk
    assert body["account"]["balance"] == {"amount": "87.500000", "currency": "USD"}
    assert body["account"]["usable"] == {"amount": "87.500000", "currency": "USD"}


def test_charge_records_the_keys_user_as_author(account):
    user = staff_user("Billing staff")

    response = _charge(client_for(user), account, "1")

    assert Entry.objects.get(pk=response.json()["id"]).created_by == user


def test_charge_kind_must_be_a_spend(staff_api, account):
    response = _charge(staff_api, account, "1", kind="payment")

    assert response.status_code == 400
    assert response.json()["field"] == "kind"
    assert Entry.objects.filter(account=account).count() == 1


def test_description_longer_than_the_ledger_keeps_is_400(staff_api, account):
    response = _charge(staff_api, account, "1", description="x" * 501)

    assert response.status_code == 400
    assert response.json()["field"] == "description"


def test_prepaid_charge_beyond_funds_is_402_insufficient_funds(staff_api, account):
    response = _charge(staff_api, account, "100.000001")

    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "insufficient_funds"
    assert body["field"] == "amount"
    assert "100.000000 USD usable" in body["detail"]
    assert Entry.objects.filter(account=account).count() == 1


def test_blocked_credit_charge_is_402_credit_blocked(staff_api):
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    account_block_credit(account_id=account.pk, reason="overdue invoice")

    response = _charge(staff_api, account, "1")

    assert response.status_code == 402
    assert response.json()["error"] == "credit_blocked"
    assert "blocked" in response.json()["detail"]
    assert not Entry.objects.filter(account=account).exists()


def test_postpaid_account_may_go_negative_and_shows_unlimited_usable(staff_api):
    account = AccountFactory(payment_mode=PaymentMode.POSTPAID)

    response = _charge(staff_api, account, "1000")

    assert response.status_code == 201
    assert response.json()["account"]["balance"]["amount"] == "-1000.000000"
    assert response.json()["account"]["usable"] is None


def test_payment_raises_balance_and_answers_the_entry(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/payments/",
        {"amount": "25", "reference": "SEPA 2026-11-001"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )

    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "payment"
    assert body["amount"] == body["ledger_amount"] == {"amount": "25.000000", "currency": "USD"}
    assert "SEPA 2026-11-001" in body["description"]
    assert body["account"]["balance"]["amount"] == "125.000000"


LARGEST = "9999999999999.999999"


def test_charges_past_the_ceiling_are_402_naming_it_and_never_wedge_the_account(staff_api):
    account = AccountFactory(payment_mode=PaymentMode.POSTPAID)

    answers = [_charge(staff_api, account, LARGEST) for _ in range(10)]
    paid = staff_api.post(
        f"/api/v1/accounts/{account.pk}/payments/",
        {"amount": "50"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )

    assert answers[0].status_code == 201
    for refused in answers[1:]:
        assert refused.status_code == 402, refused.content
        assert refused.json()["error"] == "ceiling_exceeded"
        assert refused.json()["field"] == "amount"
        assert "10,000,000,000,000" in refused.json()["detail"]
    assert paid.status_code == 201
    assert paid.json()["account"]["balance"]["amount"] == "-9999999999949.999999"
    assert Entry.objects.filter(account=account).count() == 2


def test_a_smaller_charge_that_fits_under_the_ceiling_is_still_booked(staff_api):
    account = AccountFactory(payment_mode=PaymentMode.POSTPAID)

    first = _charge(staff_api, account, "6000000000000")
    refused = _charge(staff_api, account, "6000000000000")
    smaller = _charge(staff_api, account, "3999999999999.999999")

    assert (first.status_code, refused.status_code, smaller.status_code) == (201, 402, 201)
    assert "3,999,999,999,999.999999" in refused.json()["detail"]  # what still fits
    assert smaller.json()["account"]["balance"]["amount"] == "-9999999999999.999999"


def test_money_received_past_the_ceiling_is_400_naming_it(staff_api):
    account = AccountFactory(funds=LARGEST)

    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/payments/",
        {"amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "ceiling_exceeded"
    assert response.json()["field"] == "amount"
    assert "10,000,000,000,000" in response.json()["detail"]
    assert Entry.objects.filter(account=account).count() == 1
