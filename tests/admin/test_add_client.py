"""Adding clients and portal logins goes through `account_create` / `client_add_user`."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import BillingAccount, Client, ClientUser, PaymentMode, PaymentModeChange
from ledger.models import Balance

ADD_URL = "admin:accounts_client_add"


def test_add_client_creates_the_account_and_its_books(billing, billing_user):
    response = billing.post(
        reverse(ADD_URL),
        {
            "name": "New Client",
            "email": "ap@new.example",
            "currency": "eur",
            "payment_mode": PaymentMode.CREDIT_LIMIT,
            "credit_limit": "300",
            "credit_limit_scope": "total_debt",
            "payment_term_days": "30",
        },
    )
    account = BillingAccount.objects.get(client__name="New Client")
    assert response.status_code == 302
    assert response.url == reverse("admin:accounts_billingaccount_change", args=[account.pk])
    assert account.currency == "EUR"
    assert account.credit_limit == Decimal("300")
    assert account.payment_term_days == 30
    assert Balance.objects.filter(account=account).exists()
    assert PaymentModeChange.objects.get(account=account).changed_by == billing_user


def test_add_prepaid_client_without_limit_fields(billing):
    response = billing.post(
        reverse(ADD_URL),
        {
            "name": "Cash Only",
            "email": "cash@only.example",
            "currency": "USD",
            "payment_mode": PaymentMode.PREPAID,
            "payment_term_days": "14",
        },
    )
    assert response.status_code == 302
    assert BillingAccount.objects.get(client__name="Cash Only").payment_mode == "prepaid"


def test_add_client_with_an_unknown_currency_is_a_form_error_and_creates_nothing(billing):
    response = billing.post(
        reverse(ADD_URL),
        {
            "name": "Bad Money",
            "email": "bad@money.example",
            "currency": "XYZ",
            "payment_mode": PaymentMode.PREPAID,
            "payment_term_days": "14",
        },
    )
    assert response.status_code == 200
    assert "not an ISO 4217 currency" in " ".join(response.context["form"].errors["currency"])
    assert not Client.objects.exists()


def test_account_add_button_leads_to_the_client_form(billing):
    response = billing.get(reverse("admin:accounts_billingaccount_add"))
    assert response.status_code == 302
    assert response.url == reverse(ADD_URL)


def test_add_portal_login_for_a_client(billing, prepaid):
    url = reverse("admin:accounts_client_add_login", args=[prepaid.client_id])
    weak = billing.post(url, {"username": "portal", "password": "123"})
    assert weak.status_code == 200
    assert "password" in weak.context["form"].errors

    response = billing.post(
        url, {"username": "portal", "email": "p@x.example", "password": "long enough pass"}
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="portal")
    assert ClientUser.objects.get(user=user).client_id == prepaid.client_id
    assert not user.is_staff
    page = billing.get(reverse("admin:accounts_client_change", args=[prepaid.client_id]))
    assert "portal" in page.content.decode()
