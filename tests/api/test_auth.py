import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_authenticate, api_key_create, api_key_revoke, hash_key
from tests.factories import UserFactory

from .conftest import client_for

pytestmark = pytest.mark.django_db


def _get(client, account):
    return client.get(f"/api/v1/accounts/{account.pk}/")


def test_request_without_key_is_401_with_json_error(account):
    response = _get(APIClient(), account)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"] == "not_authenticated"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Token nonsense", "Token abc.def", "Token", "Token a b", "Bearer x"],
    ids=["no-dot", "unknown-prefix", "empty", "two-parts", "other-scheme"],
)
def test_bad_key_is_401(account, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = _get(client, account)

    assert response.status_code == 401
    assert response.json()["error"] in {"authentication_failed", "not_authenticated"}


def test_key_with_the_right_prefix_but_wrong_secret_is_401(account):
    key, _ = api_key_create(user=UserFactory(), name="erp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.prefix}.not-the-secret")

    response = _get(client, account)

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_revoked_key_is_401(account):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_billingaccount"))
    key, raw_key = api_key_create(user=user, name="erp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    assert _get(client, account).status_code == 200

    api_key_revoke(key_id=key.pk)

    response = _get(client, account)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_key_of_inactive_user_is_401(account):
    user = UserFactory()
    client = client_for(user)
    user.is_active = False
    user.save()

    assert _get(client, account).status_code == 401


def test_key_without_the_permission_is_403(bare_api, account):
    response = _get(bare_api, account)

    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "permission_denied"
    assert "accounts.view_billingaccount" in body["detail"]


def test_key_acts_with_its_users_permissions(account):
    user = UserFactory()
    client = client_for(user)
    assert _get(client, account).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="view_billingaccount"))

    assert _get(client, account).status_code == 200


def test_keys_are_stored_hashed_never_raw():
    key, raw_key = api_key_create(user=UserFactory(), name="erp")

    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw_key not in {str(v) for v in stored.values()}
    assert stored["key_hash"] == hash_key(raw_key)
    assert raw_key.startswith(f"{key.prefix}.")


def test_each_key_is_different():
    user = UserFactory()
    keys = {api_key_create(user=user, name="erp")[1] for _ in range(5)}

    assert len(keys) == 5


def test_authentication_records_when_a_key_was_last_used():
    key, raw_key = api_key_create(user=UserFactory(), name="erp")
    assert key.last_used_at is None

    assert api_key_authenticate(raw_key=raw_key) == key

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_revoking_twice_keeps_the_first_revocation_time():
    key, _ = api_key_create(user=UserFactory(), name="erp")
    first = api_key_revoke(key_id=key.pk).revoked_at

    assert api_key_revoke(key_id=key.pk).revoked_at == first


def test_schema_is_public_but_a_bad_key_is_still_refused():
    assert APIClient().get("/api/v1/schema/").status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope.nope")
    assert client.get("/api/v1/schema/").status_code == 401
