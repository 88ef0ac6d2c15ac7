from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from api.models import ApiKey
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _run(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_prints_a_working_key_on_its_last_line(account):
    lines = _run("erp-bot", "--group", "Billing staff")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {lines[-1]}")
    response = client.get(f"/api/v1/accounts/{account.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == account.pk


def test_creates_the_user_without_a_usable_password():
    _run("erp-bot", "--group", "Billing staff", "--group", "Managers")

    user = get_user_model().objects.get(username="erp-bot")
    assert not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {"Billing staff", "Managers"}


def test_existing_user_keeps_its_password_and_gets_another_key():
    user = UserFactory(username="alice")
    first = _run("alice")[-1]

    second = _run("alice")[-1]

    user.refresh_from_db()
    assert user.check_password("correct horse battery")
    assert first != second
    assert ApiKey.objects.filter(user=user).count() == 2


def test_unknown_group_fails_without_creating_anything():
    with pytest.raises(CommandError, match="Unknown group 'Wizards'"):
        _run("erp-bot", "--group", "Wizards")

    assert not get_user_model().objects.filter(username="erp-bot").exists()
    assert not ApiKey.objects.exists()


def test_key_without_groups_has_no_permissions(account):
    raw_key = _run("nobody")[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")

    assert client.get(f"/api/v1/accounts/{account.pk}/").status_code == 403
