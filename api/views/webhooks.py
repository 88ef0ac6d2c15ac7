"""Webhook endpoints for integrations (staff only): deliveries are Standard Webhooks."""

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from notifications.models import EventType, WebhookEndpoint
from notifications.services import webhook_endpoint_create

from ..serializers.strict import JsonInput
from .base import IdempotentPostView, errors, idempotency_parameter


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="whsec_…: verify each delivery's webhook-signature with it. Shown only here."
    )


class WebhookEndpointInput(JsonInput):
    url = serializers.CharField(max_length=500)
    events = serializers.ListField(
        child=serializers.CharField(),
        help_text=f"Any of: {', '.join(EventType.values)}.",
    )
    secret = serializers.CharField(required=False, allow_blank=True, max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


@extend_schema_view(
    get=extend_schema(
        summary="List webhook endpoints",
        responses={200: WebhookEndpointSerializer(many=True), **errors()},
    ),
    post=extend_schema(
        summary="Register a webhook endpoint",
        request=WebhookEndpointInput,
        responses={201: WebhookEndpointCreatedSerializer, **errors(400)},
        parameters=[idempotency_parameter(required=False)],
    ),
)
class WebhookEndpointsView(IdempotentPostView):
    idempotency_required = False

    @property
    def required_permission(self):
        return (
            "notifications.view_webhookendpoint"
            if self.request.method == "GET"
            else "notifications.add_webhookendpoint"
        )

    def get(self, request):
        page = self.paginate_queryset(WebhookEndpoint.objects.order_by("id"))
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    def perform(self, target, ledger_key):
        data = self.validated(WebhookEndpointInput)
        endpoint = webhook_endpoint_create(
            url=data["url"],
            events=list(data["events"]),
            secret=data.get("secret") or None,
            description=data.get("description", ""),
            created_by=self.request.user,
        )
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


urlpatterns = [path("webhooks/", WebhookEndpointsView.as_view(), name="webhooks")]
