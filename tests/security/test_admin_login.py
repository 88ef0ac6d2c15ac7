"""CSRF and login throttling on the admin's login page."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from billing_site import throttling
from tests.factories import staff_user

LOGIN = reverse("admin:login")
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(db):
    return staff_user("Billing staff", username="billie")


def _login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_admin_login_without_a_csrf_token_is_refused(staff):
    client = Client(enforce_csrf_checks=True)
    response = _login(client, "billie", PASSWORD)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_admin_login_with_the_csrf_token_from_the_form_succeeds(staff):
    client = Client(enforce_csrf_checks=True)
    page = client.get(LOGIN)
    token = page.cookies["csrftoken"].value
    response = client.post(
        LOGIN,
        {"username": "billie", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_sixth_login_is_refused_even_with_the_right_password(client, staff):
    for _ in range(throttling.USERNAME_LIMIT):
        response = _login(client, "billie", "wrong")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    response = _login(client, "billie", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed attempts; try again in 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttling_one_username_leaves_other_users_alone(client, staff, db):
    staff_user("Managers", username="manny")
    for _ in range(throttling.USERNAME_LIMIT):
        _login(client, "billie", "wrong")
    response = _login(client, "manny", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_the_window_ends_and_the_right_password_works_again(client, staff):
    import time_machine

    with time_machine.travel("2026-01-01 10:00", tick=False):
        for _ in range(throttling.USERNAME_LIMIT):
            _login(client, "billie", "wrong")
    with time_machine.travel("2026-01-01 10:05", tick=False):
        response = _login(client, "billie", PASSWORD)
        assert "try again in 10 minutes" in response.content.decode()
    with time_machine.travel("2026-01-01 10:16", tick=False):
        assert _login(client, "billie", PASSWORD).status_code == 302


def test_one_address_guessing_many_usernames_is_refused(client, staff):
    for n in range(throttling.IP_LIMIT):
        _login(client, f"guess{n}", "wrong")
    response = _login(client, "billie", PASSWORD)
    assert "Too many failed attempts" in response.content.decode()
    other_address = Client(REMOTE_ADDR="10.0.0.9")
    assert _login(other_address, "billie", PASSWORD).status_code == 302


def test_a_successful_login_clears_the_usernames_count(client, staff):
    for _ in range(throttling.USERNAME_LIMIT - 1):
        _login(client, "billie", "wrong")
    assert _login(client, "billie", PASSWORD).status_code == 302
    client.logout()
    for _ in range(throttling.USERNAME_LIMIT - 1):
        _login(client, "billie", "wrong")
    assert _login(client, "billie", PASSWORD).status_code == 302


def test_throttled_form_is_available_for_other_login_pages(staff, rf):
    request = rf.post("/portal/login/")
    for _ in range(throttling.USERNAME_LIMIT):
        form = throttling.ThrottledAuthenticationForm(
            request, data={"username": "billie", "password": "wrong"}
        )
        assert not form.is_valid()
    form = throttling.ThrottledAuthenticationForm(
        request, data={"username": "billie", "password": PASSWORD}
    )
    assert not form.is_valid()
    assert form.errors["__all__"][0].startswith("Too many failed attempts")
