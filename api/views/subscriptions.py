"""Plans, add-ons, subscriptions, upsells and payment requests: one service call each."""

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from subscriptions.models import PaymentRequest, Subscription
from subscriptions.periods import month_end
from subscriptions.selectors import (
    account_subscriptions,
    add_ons_catalogue,
    plans_catalogue,
    subscriptions_with_details,
)
from subscriptions.services import (
    add_on_create,
    payment_request_confirm,
    plan_create,
    subscription_order,
    upsell_order,
    upsell_quote,
)
from subscriptions.services.common import today

from ..selectors import accounts_visible_to, client_id_of
from ..serializers.subscriptions import (
    AddOnCreateInput,
    AddOnSerializer,
    PaymentRequestSerializer,
    PlanCreateInput,
    PlanSerializer,
    SubscriptionOrderInput,
    SubscriptionSerializer,
    UpsellInput,
    UpsellQuoteInput,
    UpsellQuoteSerializer,
    UpsellSerializer,
)
from .base import ApiView, IdempotentPostView, errors, idempotency_parameter


def subscriptions_visible_to(user) -> QuerySet[Subscription]:
    subscriptions = subscriptions_with_details()
    client_id = client_id_of(user)
    if client_id is None:
        return subscriptions
    return subscriptions.filter(account__client_id=client_id)


class _ByMethod:
    """`read_permission` for GET, `write_permission` for POST."""

    read_permission = ""
    write_permission = ""

    @property
    def required_permission(self) -> str:
        return self.write_permission if self.request.method == "POST" else self.read_permission


class _CatalogueView(_ByMethod, IdempotentPostView):
    """Staff only: client logins neither read nor write the catalogue here."""

    idempotency_required = False


@extend_schema_view(
    get=extend_schema(
        summary="List plans", responses={200: PlanSerializer(many=True), **errors(400)}
    ),
    post=extend_schema(
        summary="Create a plan",
        description="A monthly price in one currency, charged `prepay` (each month at its "
        "start) or `postpay` (in arrears on the 1st), with an optional trial and add-ons.",
        request=PlanCreateInput,
        responses={201: PlanSerializer, **errors(400)},
        parameters=[idempotency_parameter(required=False)],
    ),
)
class PlanListView(_CatalogueView):
    read_permission = "subscriptions.view_plan"
    write_permission = "subscriptions.add_plan"

    def get(self, request):
        page = self.paginate_queryset(plans_catalogue().order_by("code"))
        return self.get_paginated_response(PlanSerializer(page, many=True).data)

    def perform(self, target, ledger_key):
        data = self.validated(PlanCreateInput)
        plan = plan_create(
            code=data["code"],
            name=data["name"],
            price=data["price"].amount,
            currency=data["currency"],
            charging=data["charging"],
            trial_days=data["trial_days"],
            add_ons=data["add_ons"],
            created_by=self.request.user,
        )
        plan = plans_catalogue().get(pk=plan.pk)
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="List add-ons", responses={200: AddOnSerializer(many=True), **errors(400)}
    ),
    post=extend_schema(
        summary="Create an add-on",
        request=AddOnCreateInput,
        responses={201: AddOnSerializer, **errors(400)},
        parameters=[idempotency_parameter(required=False)],
    ),
)
class AddOnListView(_CatalogueView):
    read_permission = "subscriptions.view_addon"
    write_permission = "subscriptions.add_addon"

    def get(self, request):
        page = self.paginate_queryset(add_ons_catalogue().order_by("code"))
        return self.get_paginated_response(AddOnSerializer(page, many=True).data)

    def perform(self, target, ledger_key):
        data = self.validated(AddOnCreateInput)
        add_on = add_on_create(
            code=data["code"],
            name=data["name"],
            price=data["price"].amount,
            currency=data["currency"],
            created_by=self.request.user,
        )
        return Response(AddOnSerializer(add_on).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="The account's subscriptions",
        responses={200: SubscriptionSerializer(many=True), **errors(404)},
    ),
    post=extend_schema(
        summary="Order a plan",
        description="Prepay plans charge the rest of this month now (a prepaid account "
        "only from its funds: 402 otherwise). Postpay plans need a postpaid or "
        "credit-limit account (400 `postpaid_mode_required` for a prepaid one) and are "
        "charged in arrears on the 1st. In manual approval mode the account's first "
        "commercial postpay order answers `pending_approval`; while the account is under "
        "review, further postpay orders are 403 `under_review`. Trials are never held.",
        request=SubscriptionOrderInput,
        responses={201: SubscriptionSerializer, **errors(400, 402, 404, 409)},
        parameters=[idempotency_parameter(required=True)],
    ),
)
class AccountSubscriptionsView(_ByMethod, IdempotentPostView):
    """Staff see and order for any account; a client's login for its own."""

    read_permission = "subscriptions.view_subscription"
    write_permission = "subscriptions.add_subscription"
    client_users_may = True
    object_scoped = True
    object_label = "Account"
    lookup_url_kwarg = "account_id"

    def get_queryset(self):
        return accounts_visible_to(self.request.user)

    def get(self, request, account_id):
        account = self.get_object()
        page = self.paginate_queryset(account_subscriptions(account.pk))
        return self.get_paginated_response(SubscriptionSerializer(page, many=True).data)

    def perform(self, account, ledger_key):
        data = self.validated(SubscriptionOrderInput)
        subscription = subscription_order(
            account_id=account.pk,
            plan=data["plan"],
            trial=data["trial"],
            ordered_by=self.request.user,
        )
        subscription = subscriptions_with_details().get(pk=subscription.pk)
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)


class _SubscriptionScoped:
    client_users_may = True
    object_scoped = True
    object_label = "Subscription"
    lookup_url_kwarg = "subscription_id"

    def get_queryset(self):
        return subscriptions_visible_to(self.request.user)


@extend_schema_view(
    get=extend_schema(
        summary="One subscription", responses={200: SubscriptionSerializer, **errors(404)}
    )
)
class SubscriptionDetailView(_SubscriptionScoped, ApiView):
    required_permission = "subscriptions.view_subscription"

    def get(self, request, subscription_id):
        return Response(SubscriptionSerializer(self.get_object()).data)


@extend_schema_view(
    get=extend_schema(
        summary="Price an upgrade or add-on",
        description="The monthly difference prorated to the day for the rest of the month, "
        "today included.",
        parameters=[
            OpenApiParameter("plan", str, description="Plan code to upgrade to."),
            OpenApiParameter("add_on", str, description="Add-on code to buy."),
        ],
        responses={200: UpsellQuoteSerializer, **errors(400, 404, 409)},
    )
)
class UpsellQuoteView(_SubscriptionScoped, ApiView):
    required_permission = "subscriptions.view_subscription"

    def get(self, request, subscription_id):
        subscription = self.get_object()
        serializer = UpsellQuoteInput(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        on = today()
        amount = upsell_quote(
            subscription_id=subscription.pk,
            to_plan=data.get("plan"),
            add_on=data.get("add_on"),
            on=on,
        )
        answer = {
            "subscription": subscription.pk,
            "amount": amount,
            "currency": subscription.account.currency,
            "period_start": on,
            "period_end": month_end(on),
        }
        return Response(UpsellQuoteSerializer(answer).data)


@extend_schema_view(
    post=extend_schema(
        summary="Upgrade the plan or buy an add-on",
        description="Charged prorated for the rest of the month. `pay_with=balance`: "
        "charged now (402 if the payment mode does not allow it), applied at once. "
        "`pay_with=gateway`: a payment request is opened and the change waits "
        "(`pending_payment`) until the money arrives; the `test` gateway pays at once and "
        "is for staff keys only.",
        request=UpsellInput,
        responses={201: UpsellSerializer, **errors(400, 402, 404, 409)},
        parameters=[idempotency_parameter(required=True)],
    )
)
class UpsellCreateView(_SubscriptionScoped, IdempotentPostView):
    required_permission = "subscriptions.add_upsell"

    def perform(self, subscription, ledger_key):
        data = self.validated(UpsellInput)
        upsell = upsell_order(
            subscription_id=subscription.pk,
            to_plan=data.get("plan"),
            add_on=data.get("add_on"),
            pay_with=data["pay_with"],
            gateway=data["gateway"],
            ordered_by=self.request.user,
        )
        return Response(UpsellSerializer(upsell).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    post=extend_schema(
        summary="Confirm a payment request's money arrived",
        description="For bank transfers: books the money and makes the change (or "
        "renewal) it paid for. 409 once settled or cancelled.",
        request=None,
        responses={200: PaymentRequestSerializer, **errors(400, 404, 409)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class PaymentRequestConfirmView(IdempotentPostView):
    required_permission = "subscriptions.confirm_paymentrequest"
    idempotency_required = False
    object_scoped = True
    object_label = "Payment request"
    lookup_url_kwarg = "request_id"

    def get_queryset(self):
        requests = PaymentRequest.objects.all()
        client_id = client_id_of(self.request.user)
        return requests if client_id is None else requests.filter(account__client_id=client_id)

    def perform(self, request, ledger_key):
        settled = payment_request_confirm(request_id=request.pk, confirmed_by=self.request.user)
        return Response(PaymentRequestSerializer(settled).data)


urlpatterns = [
    path("plans/", PlanListView.as_view(), name="plan-list"),
    path("add-ons/", AddOnListView.as_view(), name="addon-list"),
    path(
        "accounts/<int:account_id>/subscriptions/",
        AccountSubscriptionsView.as_view(),
        name="account-subscriptions",
    ),
    path(
        "subscriptions/<int:subscription_id>/",
        SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<int:subscription_id>/upsell-quote/",
        UpsellQuoteView.as_view(),
        name="subscription-upsell-quote",
    ),
    path(
        "subscriptions/<int:subscription_id>/upsell/",
        UpsellCreateView.as_view(),
        name="subscription-upsell",
    ),
    path(
        "payment-requests/<int:request_id>/confirm/",
        PaymentRequestConfirmView.as_view(),
        name="payment-request-confirm",
    ),
]
