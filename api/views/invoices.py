"""Invoices: list, detail and the PDF; a client's login sees its own only."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.response import Response

from invoicing.selectors import invoices_visible

from ..selectors import client_id_of
from ..serializers.invoices import InvoiceFilter, InvoiceSerializer
from .base import ApiView, errors


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
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(404),
        },
    )
)
class InvoicePdfView(InvoiceReadView):
    object_scoped = True

    def get(self, request, invoice_id):
        from invoicing.pdf import invoice_pdf

        invoice = self.get_object()
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
        return response
