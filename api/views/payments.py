"""Payments of invoices: read one, and the ERP's approve and cancel (external ERP mode)."""

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from invoicing.selectors import payments_visible
from invoicing.services import payment_approve, payment_cancel

from ..selectors import client_id_of
from ..serializers.invoices import PaymentCancelInput, PaymentSerializer
from .base import ApiView, IdempotentPostView, errors, idempotency_parameter

APPROVE_PAYMENT = "invoicing.approve_payment"


class PaymentScope:
    object_label = "Payment"
    lookup_url_kwarg = "payment_id"
    object_scoped = True

    def get_queryset(self):
        return payments_visible(client_id_of(self.request.user))


def _answer(payment_id: int) -> Response:
    payment = payments_visible(None).prefetch_related("invoice__lines").get(pk=payment_id)
    return Response(PaymentSerializer(payment).data)


@extend_schema_view(
    get=extend_schema(
        summary="One payment with its invoice",
        responses={200: PaymentSerializer, **errors(404)},
    )
)
class PaymentDetailView(PaymentScope, ApiView):
    required_permission = "invoicing.view_payment"
    client_users_may = True

    def get(self, request, payment_id):
        return _answer(self.get_object().pk)


@extend_schema_view(
    post=extend_schema(
        summary="Approve a payment: the client paid the invoice outside the platform",
        description="waiting_for_payment → completed: the invoice's outstanding amount is "
        "booked as money received and applied to this invoice (even when an older one is "
        "unpaid), the invoice is paid, and credit blocked for overdue invoices is unblocked "
        "when none is left. 409 invalid_transition for a payment that is not waiting, or "
        "that has no due date yet (waiting for the ERP to approve the invoice). Booked once "
        "whatever the retries.",
        request=None,
        responses={200: PaymentSerializer, **errors(404, 409)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class PaymentApproveView(PaymentScope, IdempotentPostView):
    required_permission = APPROVE_PAYMENT
    idempotency_required = False

    def perform(self, payment, ledger_key):
        payment_approve(payment_id=payment.pk, approved_by=self.request.user)
        return _answer(payment.pk)


@extend_schema_view(
    post=extend_schema(
        summary="Cancel a payment",
        description="waiting_for_payment → cancelled: the client is no longer asked to pay "
        "through it. The invoice stays as it is, amount owed included (cancel the invoice "
        "to void the debt). 409 invalid_transition for a payment that is not waiting.",
        request=PaymentCancelInput,
        responses={200: PaymentSerializer, **errors(400, 404, 409)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class PaymentCancelView(PaymentScope, IdempotentPostView):
    required_permission = APPROVE_PAYMENT
    idempotency_required = False

    def perform(self, payment, ledger_key):
        data = self.validated(PaymentCancelInput)
        payment_cancel(
            payment_id=payment.pk, cancelled_by=self.request.user, reason=data.get("reason", "")
        )
        return _answer(payment.pk)


urlpatterns = [
    path("payments/<int:payment_id>/", PaymentDetailView.as_view(), name="payment-detail"),
    path(
        "payments/<int:payment_id>/approve/", PaymentApproveView.as_view(), name="payment-approve"
    ),
    path("payments/<int:payment_id>/cancel/", PaymentCancelView.as_view(), name="payment-cancel"),
]
