"""System settings and the manual-operations queue (staff only; client logins get 403/404)."""

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from approvals.models import DECIDE_PERMISSION, ManualOperation
from approvals.selectors import manual_operations
from approvals.services import (
    manual_operation_approve,
    manual_operation_decline,
    settings_update,
    system_settings,
)

from ..selectors import client_id_of
from ..serializers.approvals import (
    DecisionInput,
    ManualOperationFilter,
    ManualOperationSerializer,
    SystemSettingsPatch,
    SystemSettingsSerializer,
)
from .base import ApiView, IdempotentPostView, errors, idempotency_parameter


@extend_schema_view(
    get=extend_schema(
        summary="The system settings",
        responses={200: SystemSettingsSerializer, **errors()},
    ),
    patch=extend_schema(
        summary="Change system settings",
        description="Send any subset of the settings; each change is recorded with who "
        "and when. Switching postpaid_permission_mode keeps every account's postpaid "
        "permission, every pending manual operation and every running subscription.",
        request=SystemSettingsPatch,
        responses={200: SystemSettingsSerializer, **errors(400)},
    ),
)
class SystemSettingsView(ApiView):
    @property
    def required_permission(self):
        if self.request.method == "PATCH":
            return "approvals.change_systemsettings"
        return "approvals.view_systemsettings"

    def get(self, request):
        return Response(SystemSettingsSerializer(system_settings()).data)

    def patch(self, request):
        patch = SystemSettingsPatch(data=request.data, partial=True)
        patch.is_valid(raise_exception=True)
        updated = settings_update(changed_by=request.user, **patch.validated_data)
        return Response(SystemSettingsSerializer(updated).data)


class OperationScope:
    object_label = "Manual operation"
    lookup_url_kwarg = "operation_id"

    def get_queryset(self) -> QuerySet[ManualOperation]:
        operations = manual_operations()
        # The queue is the staff's business: a client's login sees none of it.
        return operations.none() if client_id_of(self.request.user) is not None else operations


class ManualOperationReadView(OperationScope, ApiView):
    required_permission = "approvals.view_manualoperation"


@extend_schema_view(
    get=extend_schema(
        summary="List manual operations",
        description="Oldest first, the order the queue is worked in. `?status=pending` "
        "is the queue.",
        parameters=[ManualOperationFilter],
        responses={200: ManualOperationSerializer(many=True), **errors(400)},
    )
)
class ManualOperationListView(ManualOperationReadView):
    def get(self, request):
        filters = ManualOperationFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        operations = self.get_queryset()
        if status := filters.validated_data.get("status"):
            operations = operations.filter(status=status)
        if kind := filters.validated_data.get("kind"):
            operations = operations.filter(kind=kind)
        if account := filters.validated_data.get("account"):
            operations = operations.filter(account_id=account)
        page = self.paginate_queryset(operations)
        return self.get_paginated_response(ManualOperationSerializer(page, many=True).data)


@extend_schema_view(
    get=extend_schema(
        summary="One manual operation with its decision",
        responses={200: ManualOperationSerializer, **errors(404)},
    )
)
class ManualOperationDetailView(ManualOperationReadView):
    object_scoped = True

    def get(self, request, operation_id):
        return Response(ManualOperationSerializer(self.get_object()).data)


def _decision_schema(summary: str, description: str):
    return extend_schema_view(
        post=extend_schema(
            summary=summary,
            description=description + " A decision is final: deciding an operation that "
            "is no longer pending is 409 decision_final and changes nothing.",
            request=DecisionInput,
            responses={200: ManualOperationSerializer, **errors(400, 404, 409)},
            parameters=[idempotency_parameter(required=False)],
        )
    )


class DecisionView(OperationScope, IdempotentPostView):
    """A manager's decision; the service locks, re-checks the permission and acts."""

    required_permission = DECIDE_PERMISSION
    idempotency_required = False
    object_scoped = True
    service = None

    def perform(self, operation, ledger_key):
        data = self.validated(DecisionInput)
        decided = type(self).service(
            operation_id=operation.pk, comment=data["comment"], decided_by=self.request.user
        )
        return Response(ManualOperationSerializer(decided).data)


@_decision_schema(
    "Approve a manual operation",
    "allow_postpaid_subscriptions: the account may have postpaid subscriptions for good "
    "and its subscriptions waiting for the decision are provisioned. The comment is "
    "optional.",
)
class ManualOperationApproveView(DecisionView):
    service = staticmethod(manual_operation_approve)


@_decision_schema(
    "Decline a manual operation",
    "allow_postpaid_subscriptions: the account can never order postpaid subscriptions "
    "and its waiting subscriptions are cancelled; the client keeps being told the account "
    "is under review. The comment (why) is required.",
)
class ManualOperationDeclineView(DecisionView):
    service = staticmethod(manual_operation_decline)


urlpatterns = [
    path("settings/", SystemSettingsView.as_view(), name="settings"),
    path("manual-operations/", ManualOperationListView.as_view(), name="manual-operation-list"),
    path(
        "manual-operations/<int:operation_id>/",
        ManualOperationDetailView.as_view(),
        name="manual-operation-detail",
    ),
    path(
        "manual-operations/<int:operation_id>/approve/",
        ManualOperationApproveView.as_view(),
        name="manual-operation-approve",
    ),
    path(
        "manual-operations/<int:operation_id>/decline/",
        ManualOperationDeclineView.as_view(),
        name="manual-operation-decline",
    ),
]
