"""API keys in the control panel: made by the service, shown once, never the hash."""

import re

import pytest
from django.contrib.auth import get_user_model

from api.models import ApiKey
from api.services import api_key_authenticate, api_key_create, hash_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


def test_adding_a_key_shows_the_raw_key_once_and_stores_only_its_hash(admin_client):
    owner = UserFactory(username="erp")

    response = admin_client.post(
        "/admin/api/apikey/add/", {"user": owner.pk, "name": "ERP"}, follow=True
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    raw_key = next(
        match.group(1) for m in messages if (match := re.search(r"is (\S+\.\S+) — copy it now", m))
    )
    key = ApiKey.objects.get(user=owner)
    assert api_key_authenticate(raw_key=raw_key) == key
    assert key.key_hash == hash_key(raw_key)
    change_page = admin_client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert key.key_hash not in change_page
    assert raw_key not in change_page


def test_key_list_shows_owner_and_prefix_but_not_the_hash(admin_client):
    key, _ = api_key_create(user=UserFactory(username="erp"), name="ERP")

    page = admin_client.get("/admin/api/apikey/").content.decode()

    assert key.prefix in page
    assert "erp" in page
    assert key.key_hash not in page


def test_revoke_action_revokes_the_selected_keys(admin_client):
    key, raw_key = api_key_create(user=UserFactory(), name="ERP")

    admin_client.post(
        "/admin/api/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(raw_key=raw_key) is None
