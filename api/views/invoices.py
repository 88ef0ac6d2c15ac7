"""Invoices: list, detail and the PDF; a client's login sees its own only.

External ERP mode adds the ERP's actions: approve an invoice (due date, external total,
receipt link) and attach its receipt PDF, by invoice id or by account and period start.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from billing_site.exceptions import NotFound
from invoicing import receipts
from invoicing.selectors import invoices_visible
from invoicing.services import (
    invoice_approve,
    invoice_attach_receipt,
    invoice_attach_receipt_for_period,
)

from ..selectors import accounts_visible_to, client_id_of
from ..serializers.invoices import (
    InvoiceApproveInput,
    InvoiceFilter,
    InvoiceSerializer,
    ReceiptForPeriodInput,
    ReceiptInput,
)
from .base import ApiView, IdempotentPostView, errors, idempotency_parameter

APPROVE_INVOICE = "invoicing.approve_invoice"
# A multipart body is the file plus a few short fields and boundaries.
MULTIPART_OVERHEAD = 64 * 1024


class InvoiceReadView(ApiView):
    required_permission = "invoicing.view_invoice"
    client_users_may = True
    object_label = "Invoice"
    lookup_url_kwarg = "invoice_id"

    def get_queryset(self):
        return invoices_visible(client_id_of(self.request.user)).prefetch_related("lines")


@extend_schema_view(
    get=extend_schema(
        summary="List invoices",
        parameters=[InvoiceFilter],
        responses={200: InvoiceSerializer(many=True), **errors(400)},
    )
)
class InvoiceListView(InvoiceReadView):
    def get(self, request):
        filters = InvoiceFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        invoices = self.get_queryset().order_by("-issued_on", "-id")
        if account := filters.validated_data.get("account"):
            invoices = invoices.filter(account_id=account)
        if status := filters.validated_data.get("status"):
            invoices = invoices.filter(status=status)
        page = self.paginate_queryset(invoices)
        return self.get_paginated_response(InvoiceSerializer(page, many=True).data)


@extend_schema_view(
    get=extend_schema(
        summary="One invoice with its lines and payment",
        responses={200: InvoiceSerializer, **errors(404)},
    )
)
class InvoiceDetailView(InvoiceReadView):
    object_scoped = True

    def get(self, request, invoice_id):
        return Response(InvoiceSerializer(self.get_object()).data)


@extend_schema_view(
    get=extend_schema(
        summary="The invoice as a PDF",
        description="The receipt the external ERP attached, when there is one; otherwise "
        "the platform renders its own PDF of the invoice.",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(404),
        },
    )
)
class InvoicePdfView(InvoiceReadView):
    """The ERP's receipt when one was attached, else the platform's own PDF."""

    object_scoped = True

    def get(self, request, invoice_id):
        from invoicing.pdf import invoice_document

        invoice = self.get_object()
        response = HttpResponse(invoice_document(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
        return response


def _invoice_answer(invoice_id: int) -> Response:
    invoice = invoices_visible(None).prefetch_related("lines").get(pk=invoice_id)
    return Response(InvoiceSerializer(invoice).data)


@extend_schema_view(
    post=extend_schema(
        summary="Approve a closed invoice (external ERP)",
        description="closed → approved: the payment's due date is set. With an external "
        "total and currency that differ from the invoice's, the client cannot pay it from "
        "balance, only by other methods, and is shown the external total. Money already on "
        "the balance pays an invoice that is payable from it at once. 400 for a missing or "
        "past due date, an unknown currency, a total ≤ 0 or a bad link; 409 "
        "invalid_transition for an invoice that is not closed. Nothing changes on a refusal.",
        request=InvoiceApproveInput,
        responses={200: InvoiceSerializer, **errors(400, 404, 409)},
        parameters=[idempotency_parameter(required=False)],
    )
)
class InvoiceApproveView(IdempotentPostView):
    required_permission = APPROVE_INVOICE
    idempotency_required = False
    object_scoped = True
    object_label = "Invoice"
    lookup_url_kwarg = "invoice_id"

    def get_queryset(self):
        return invoices_visible(client_id_of(self.request.user))

    def perform(self, invoice, ledger_key):
        data = self.validated(InvoiceApproveInput)
        invoice_approve(
            invoice_id=invoice.pk,
            due_date=data["due_date"],
            external_total=data["external_total"],
            external_currency=data["external_currency"],
            receipt_url=data.get("receipt_url"),
            approved_by=self.request.user,
        )
        return _invoice_answer(invoice.pk)


class ReceiptUploadMixin:
    parser_classes = [MultiPartParser]

    def max_body_bytes(self) -> int | None:
        return None  # `refuse_oversized_body`: a receipt has its own, larger limit

    def refuse_oversized_body(self, request) -> None:
        """Refuse a body far past the limit before it is read (the service checks exactly)."""
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > receipts.MAX_BYTES + MULTIPART_OVERHEAD:
            raise receipts.too_big("file")


_RECEIPT_DESCRIPTION = (
    "multipart/form-data with `file`: the ERP's invoice as a PDF (checked by its content, "
    f"at most {receipts.MAX_BYTES // 2**20} MiB), stored privately. A receipt attached "
    "before is replaced. From then on `GET invoices/{id}/pdf/` serves it. Only for an "
    "invoice of the external ERP that is closed, approved, overdue or paid (else 409)."
)


@extend_schema_view(
    post=extend_schema(
        summary="Attach the ERP's receipt PDF to an invoice",
        description=_RECEIPT_DESCRIPTION,
        request={"multipart/form-data": ReceiptInput},
        responses={200: InvoiceSerializer, **errors(400, 404, 409)},
    )
)
class InvoiceReceiptView(ReceiptUploadMixin, ApiView):
    required_permission = APPROVE_INVOICE
    object_scoped = True
    object_label = "Invoice"
    lookup_url_kwarg = "invoice_id"

    def get_queryset(self):
        return invoices_visible(client_id_of(self.request.user))

    def post(self, request, invoice_id):
        invoice = self.get_object()
        self.refuse_oversized_body(request)
        data = self.validated(ReceiptInput)
        invoice_attach_receipt(invoice_id=invoice.pk, upload=data["file"], attached_by=request.user)
        return _invoice_answer(invoice.pk)


@extend_schema_view(
    post=extend_schema(
        summary="Attach the ERP's receipt PDF, matched by account and billing period start",
        operation_id="invoices_receipt_by_period_create",
        description=_RECEIPT_DESCRIPTION.replace("{id}", "{id} of the matched invoice")
        + " The invoice is the account's invoice of the external ERP whose billing period "
        "starts on `period_start`; 404 when there is none.",
        request={"multipart/form-data": ReceiptForPeriodInput},
        responses={200: InvoiceSerializer, **errors(400, 404, 409)},
    )
)
class InvoiceReceiptByPeriodView(ReceiptUploadMixin, ApiView):
    required_permission = APPROVE_INVOICE
    object_scoped = True  # the account named in the body: 404 outside the scope, then 403
    object_label = "Account"

    def post(self, request):
        self.refuse_oversized_body(request)
        data = self.validated(ReceiptForPeriodInput)
        account = accounts_visible_to(request.user).filter(pk=data["account"]).first()
        if account is None:
            raise NotFound(
                f"Account {data['account']} does not exist or is not visible to this API key.",
                field="account",
            )
        self.check_object_permissions(request, account)
        payment = invoice_attach_receipt_for_period(
            account_id=account.pk,
            period_start=data["period_start"],
            upload=data["file"],
            attached_by=request.user,
        )
        return _invoice_answer(payment.invoice_id)
