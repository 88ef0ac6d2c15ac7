"""Nothing is reachable without a client's login, and nothing of another client at all."""

import pytest
from django.urls import reverse

from tests.factories import staff_user

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

PLAIN_PAGES = [
    "portal:dashboard",
    "portal:invoices",
    "portal:subscriptions",
    "portal:subscription_order",
    "portal:top_up",
    "portal:password_change",
    "portal:password_change_done",
]
INVOICE_PAGES = ["portal:invoice_detail", "portal:invoice_pdf", "portal:invoice_pay"]


@pytest.mark.parametrize("name", PLAIN_PAGES)
def test_every_page_needs_a_login(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next={url}"


@pytest.mark.parametrize("name", [*INVOICE_PAGES, "portal:subscription_detail"])
def test_object_pages_need_a_login(client, name):
    response = client.get(reverse(name, args=[1]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_staff_without_membership_is_told_the_portal_is_for_customers(client):
    client.force_login(staff_user("Billing staff", username="stan"))
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 403
    assert "This portal is for customers" in response.content.decode()


@pytest.mark.parametrize("name", INVOICE_PAGES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_clients_invoice_is_404_on_every_path(signed_in, other_invoice, name, method):
    response = getattr(signed_in, method)(reverse(name, args=[other_invoice.pk]))
    assert response.status_code == 404


def test_another_clients_invoice_never_shows_in_the_list(signed_in, invoice, other_invoice):
    body = signed_in.get(reverse("portal:invoices")).content.decode()
    assert invoice.number in body
    assert other_invoice.number not in body


def test_login_with_the_right_password_opens_the_dashboard(client, customer):
    response = client.post(
        reverse("portal:login"), {"username": "alice", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert "Usable" in response.content.decode()


def test_a_wrong_password_is_refused_with_a_message(client, customer):
    response = client.post(reverse("portal:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_is_refused_after_five_failures_even_with_the_right_password(client, customer):
    from django.core.cache import cache

    cache.clear()
    for _ in range(5):
        client.post(reverse("portal:login"), {"username": "alice", "password": "nope"})
    response = client.post(reverse("portal:login"), {"username": "alice", "password": PASSWORD})
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    cache.clear()


def test_logout_is_a_post_and_ends_the_session(signed_in):
    response = signed_in.post(reverse("portal:logout"))
    assert response.status_code == 302
    assert signed_in.get(reverse("portal:dashboard")).status_code == 302


def test_password_change(signed_in, customer):
    response = signed_in.post(
        reverse("portal:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-42",
            "new_password2": "a-new-long-passphrase-42",
        },
    )
    assert response["Location"] == reverse("portal:password_change_done")
    customer.refresh_from_db()
    assert customer.check_password("a-new-long-passphrase-42")


def test_forms_are_csrf_protected(customer, invoice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    response = client.post(reverse("portal:top_up"), {"amount": "10", "gateway": "bank_transfer"})
    assert response.status_code == 403
    page = client.get(reverse("portal:subscription_order")).content.decode()
    assert "csrfmiddlewaretoken" in page
