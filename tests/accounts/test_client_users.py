import pytest
from django.contrib.auth import get_user_model

from accounts.models import ClientUser
from accounts.services import client_add_user
from billing_site.exceptions import InvalidInput, NotFound
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "plum-orbit-lantern-42"


def test_client_add_user_creates_a_login_tied_to_the_client():
    account = AccountFactory()

    user = client_add_user(
        client_id=account.client_id,
        username="ana",
        email="ana@acme.example",
        password=GOOD_PASSWORD,
    )

    assert user.check_password(GOOD_PASSWORD)
    assert not user.is_staff
    assert ClientUser.objects.get(user=user).client_id == account.client_id


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("8463920175", "entirely numeric"),
        ("ana.lopez.acme", "too similar"),
        ("", "too short"),
    ],
)
def test_client_add_user_applies_the_password_validators(password, message):
    account = AccountFactory()

    with pytest.raises(InvalidInput, match=message) as refused:
        client_add_user(
            client_id=account.client_id,
            username="ana.lopez.acme",
            email="ana@acme.example",
            password=password,
        )

    assert refused.value.field == "password"
    assert not get_user_model().objects.filter(username="ana.lopez.acme").exists()


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [("", "a@b.example", "username"), ("bad name!", "", "username"), ("ana", "nope", "email")],
)
def test_client_add_user_refuses_bad_usernames_and_emails(username, email, field):
    account = AccountFactory()

    with pytest.raises(InvalidInput) as refused:
        client_add_user(
            client_id=account.client_id, username=username, email=email, password=GOOD_PASSWORD
        )

    assert refused.value.field == field
    assert not ClientUser.objects.exists()


def test_client_add_user_refuses_a_taken_username():
    first, second = AccountFactory(), AccountFactory()
    client_add_user(client_id=first.client_id, username="ana", email="", password=GOOD_PASSWORD)

    with pytest.raises(InvalidInput, match="taken") as refused:
        client_add_user(
            client_id=second.client_id, username="ana", email="", password=GOOD_PASSWORD
        )

    assert refused.value.field == "username"
    assert not ClientUser.objects.filter(client_id=second.client_id).exists()


def test_client_add_user_for_an_unknown_client_is_refused():
    with pytest.raises(NotFound):
        client_add_user(client_id=424242, username="ana", email="", password=GOOD_PASSWORD)
