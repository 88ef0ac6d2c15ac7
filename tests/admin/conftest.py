import pytest
from django.contrib.auth.models import Permission

from tests.factories import AccountFactory, UserFactory, staff_user


@pytest.fixture
def billing_user(db):
    return staff_user("Billing staff", username="billie")


@pytest.fixture
def billing(client, billing_user):
    """A test client logged in as billing staff."""
    client.force_login(billing_user)
    return client


@pytest.fixture
def viewer(client, db):
    """A staff user who may look at accounts but not convert, block, charge or pay."""
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["accounts", "ledger"], codename__startswith="view_"
        )
    )
    client.force_login(user)
    return client


@pytest.fixture
def prepaid(db):
    return AccountFactory(name="Prepaid Co", currency="USD", funds="100")
