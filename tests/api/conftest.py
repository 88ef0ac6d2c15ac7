"""Clients that speak to the API with a real key, made through the service."""

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.services import client_add_user
from api.services import api_key_create
from tests.factories import AccountFactory, UserFactory, staff_user


def client_for(user) -> APIClient:
    _, raw_key = api_key_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client


def new_key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def staff_api():
    """A key of a user in the `Billing staff` group."""
    return client_for(staff_user("Billing staff"))


@pytest.fixture
def bare_api():
    """A valid key whose user has no permission at all."""
    return client_for(UserFactory())


@pytest.fixture
def account():
    """A prepaid USD account with 100 on it."""
    return AccountFactory(funds="100")


@pytest.fixture
def client_user_api(account):
    """A key of the portal login of `account`'s client."""
    user = client_add_user(
        client_id=account.client_id,
        username=f"portal-{account.pk}",
        email="portal@client.example",
        password="a long enough passphrase 42",
    )
    return client_for(user)


@pytest.fixture
def other_account():
    return AccountFactory(funds="100")
