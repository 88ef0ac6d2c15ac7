"""Charges and payments from the account page: through the services, once per form."""

from decimal import Decimal

from ledger.models import Balance, Entry
from tests.factories import AccountFactory

from .helpers import account_url


def form_key(client, account, form_id):
    """The idempotency key the account page put into one of its forms."""
    response = client.get(account_url(account))
    form = response.context["charge_form" if form_id == "charge" else "payment_form"]
    return form.initial["idempotency_key"]


def balance_of(account):
    return Balance.objects.get(account=account).balance


def test_post_charge_refused_for_insufficient_funds_shows_the_message_and_books_nothing(
    billing, prepaid
):
    key = form_key(billing, prepaid, "charge")
    response = billing.post(
        account_url(prepaid, "charge"),
        {"amount": "150", "kind": "charge", "description": "Too much", "idempotency_key": key},
    )
    assert response.status_code == 200
    assert "Insufficient funds: 100.000000 USD usable, 150.000000 USD asked." in (
        " ".join(response.context["form"].errors["amount"])
    )
    assert "Insufficient funds" in response.content.decode()
    assert Entry.objects.filter(account=prepaid).count() == 1  # the initial funds only
    assert balance_of(prepaid) == Decimal("100")


def test_post_charge_books_once_when_the_form_is_submitted_twice(billing, billing_user, prepaid):
    key = form_key(billing, prepaid, "charge")
    data = {"amount": "12.345678", "kind": "usage", "description": "Setup", "idempotency_key": key}

    first = billing.post(account_url(prepaid, "charge"), data, follow=True)
    second = billing.post(account_url(prepaid, "charge"), data, follow=True)

    charges = Entry.objects.filter(account=prepaid, kind="usage")
    assert charges.count() == 1
    assert charges.get().created_by == billing_user
    assert balance_of(prepaid) == Decimal("87.654322")
    assert "Charge of 12.345678 USD booked" in first.content.decode()
    assert "already submitted" in second.content.decode()


def test_each_showing_of_the_account_page_gets_a_new_key(billing, prepaid):
    assert form_key(billing, prepaid, "charge") != form_key(billing, prepaid, "charge")


def test_reusing_a_key_for_a_different_amount_is_refused_with_a_fresh_key(billing, prepaid):
    key = form_key(billing, prepaid, "charge")
    billing.post(
        account_url(prepaid, "charge"), {"amount": "1", "kind": "charge", "idempotency_key": key}
    )
    response = billing.post(
        account_url(prepaid, "charge"), {"amount": "2", "kind": "charge", "idempotency_key": key}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "already used" in " ".join(form.non_field_errors())
    assert form.data["idempotency_key"] != key
    assert balance_of(prepaid) == Decimal("99")


def test_record_payment_raises_the_balance(billing, db):
    account = AccountFactory(name="Payer")
    key = form_key(billing, account, "payment")
    response = billing.post(
        account_url(account, "payment"),
        {"amount": "250.5", "reference": "Wire 42", "idempotency_key": key},
    )
    assert response.status_code == 302
    entry = Entry.objects.get(account=account)
    assert entry.kind == "payment"
    assert entry.amount == Decimal("250.5")
    assert entry.description == "Payment received: Wire 42"
    assert balance_of(account) == Decimal("250.5")


def test_zero_amount_is_a_form_error(billing, prepaid):
    key = form_key(billing, prepaid, "payment")
    response = billing.post(
        account_url(prepaid, "payment"), {"amount": "0", "idempotency_key": key}
    )
    assert response.status_code == 200
    assert "greater than zero" in " ".join(response.context["form"].errors["amount"])


def test_charge_and_payment_are_403_without_the_permissions(viewer, prepaid):
    charge = viewer.post(
        account_url(prepaid, "charge"), {"amount": "1", "kind": "charge", "idempotency_key": "k"}
    )
    payment = viewer.post(account_url(prepaid, "payment"), {"amount": "1", "idempotency_key": "p"})
    assert (charge.status_code, payment.status_code) == (403, 403)
    assert Entry.objects.filter(account=prepaid).count() == 1
