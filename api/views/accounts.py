"""Clients, their logins and billing accounts."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from accounts.services import account_convert_mode, account_create, client_add_user
from ledger.selectors import account_figures, figures_from_row

from ..selectors import accounts_visible_to, clients_visible_to
from ..serializers.accounts import (
    AccountFilter,
    AccountSerializer,
    AccountView,
    ClientCreateInput,
    ClientSerializer,
    ClientUserCreateInput,
    ClientUserSerializer,
    ClientView,
    ModeChangeInput,
)
from .base import ApiView, IdempotentPostView, errors, idempotency_parameter


def account_view(account) -> AccountView:
    return AccountView(account, account_figures(account.pk))


@extend_schema_view(
    post=extend_schema(
        summary="Create a client with its billing account",
        request=ClientCreateInput,
        responses={201: ClientSerializer, **errors(400)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class ClientCreateView(IdempotentPostView):
    """Create a client and its billing account (born prepaid unless another mode is given)."""

    required_permission = "accounts.add_client"
    idempotency_required = False

    def perform(self, target, ledger_key):
        data = self.validated(ClientCreateInput)
        limit = data.get("credit_limit")
        account = account_create(
            name=data["name"],
            email=data["email"],
            currency=data["currency"].strip().upper(),
            payment_mode=data["payment_mode"],
            credit_limit=limit.amount if limit else None,
            credit_limit_scope=data["credit_limit_scope"],
            payment_term_days=data.get("payment_term_days"),
            created_by=self.request.user,
        )
        view = ClientView(account.client, account_view(account))
        return Response(ClientSerializer(view).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    post=extend_schema(
        summary="Add a portal login to a client",
        request=ClientUserCreateInput,
        responses={201: ClientUserSerializer, **errors(400, 404)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class ClientUserCreateView(IdempotentPostView):
    """Create a portal login that sees this client's account only."""

    required_permission = "accounts.add_clientuser"
    idempotency_required = False
    object_scoped = True
    object_label = "Client"
    lookup_url_kwarg = "client_id"

    def get_queryset(self):
        return clients_visible_to(self.request.user)

    def perform(self, client, ledger_key):
        data = self.validated(ClientUserCreateInput)
        user = client_add_user(
            client_id=client.pk,
            username=data["username"],
            email=data["email"],
            password=data["password"],
        )
        return Response(ClientUserSerializer(user).data, status=status.HTTP_201_CREATED)


class AccountReadPermission:
    """Staff read any account with the view permission; a client's login reads its own."""

    required_permission = "accounts.view_billingaccount"
    client_users_may = True


@extend_schema_view(
    get=extend_schema(
        summary="List billing accounts",
        parameters=[AccountFilter],
        responses={200: AccountSerializer(many=True), **errors(400)},
    )
)
class AccountListView(AccountReadPermission, ApiView):
    """Staff see every account; a client's login sees its own."""

    def get_queryset(self):
        accounts = accounts_visible_to(self.request.user)
        filters = {k: v for k, v in self.validated_filters().items() if v}
        if "currency" in filters:
            filters["currency"] = filters["currency"].upper()
        return accounts.filter(**filters)

    def validated_filters(self) -> dict:
        serializer = AccountFilter(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        views = [AccountView(a, figures_from_row(a.balance_row, a)) for a in page]
        return self.get_paginated_response(AccountSerializer(views, many=True).data)


@extend_schema_view(
    get=extend_schema(
        summary="One billing account with its figures",
        responses={200: AccountSerializer, **errors(404)},
    )
)
class AccountDetailView(AccountReadPermission, ApiView):
    """The account, its payment mode and its figures, read from one balance row."""

    object_scoped = True
    object_label = "Account"
    lookup_url_kwarg = "account_id"

    def get_queryset(self):
        return accounts_visible_to(self.request.user)

    def get(self, request, account_id):
        return Response(AccountSerializer(account_view(self.get_object())).data)


class AccountActionView(IdempotentPostView):
    object_scoped = True
    object_label = "Account"
    lookup_url_kwarg = "account_id"

    def get_queryset(self):
        return accounts_visible_to(self.request.user)


@extend_schema_view(
    post=extend_schema(
        summary="Convert the account's payment mode",
        description="Takes effect at once and is recorded with who, when, from, to and why.",
        request=ModeChangeInput,
        responses={200: AccountSerializer, **errors(400, 404, 409)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class AccountModeView(AccountActionView):
    """Switch between prepaid, postpaid and credit_limit; refused with a reason when not allowed."""

    required_permission = "accounts.convert_payment_mode"
    idempotency_required = False

    def perform(self, account, ledger_key):
        data = self.validated(ModeChangeInput, account=account)
        limit = data.get("credit_limit")
        account = account_convert_mode(
            account_id=account.pk,
            payment_mode=data["payment_mode"],
            reason=data["reason"],
            credit_limit=limit.amount if limit else None,
            credit_limit_scope=data.get("credit_limit_scope"),
            changed_by=self.request.user,
        )
        return Response(AccountSerializer(account_view(account)).data)
