"""What an API caller may see: a client's login sees its own client only.

Views resolve every object through these querysets first, so an object outside the
caller's scope is 404 (never 403: its existence is not revealed); the permission for
the action is checked after that.
"""

from django.db.models import QuerySet

from accounts.models import BillingAccount, Client, ClientUser
from ledger.models import Reservation


def client_id_of(user) -> int | None:
    """The client a portal/API login belongs to, or None for staff and integrations."""
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(user, "_api_client_id", ...)
    if cached is ...:
        cached = ClientUser.objects.filter(user=user).values_list("client_id", flat=True).first()
        user._api_client_id = cached
    return cached


def clients_visible_to(user) -> QuerySet[Client]:
    clients = Client.objects.all()
    client_id = client_id_of(user)
    return clients if client_id is None else clients.filter(pk=client_id)


def accounts_visible_to(user) -> QuerySet[BillingAccount]:
    accounts = BillingAccount.objects.select_related("client", "balance_row")
    client_id = client_id_of(user)
    return accounts if client_id is None else accounts.filter(client_id=client_id)


def reservations_visible_to(user) -> QuerySet[Reservation]:
    reservations = Reservation.objects.select_related("account", "account__client")
    client_id = client_id_of(user)
    return reservations if client_id is None else reservations.filter(account__client_id=client_id)
