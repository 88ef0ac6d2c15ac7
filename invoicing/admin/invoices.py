"""Invoices: read-only records whose state moves only through the services.

The approve and cancel buttons are django-fsm-2's FSMAdminMixin buttons, but the
transition itself is routed to `invoice_approve` / `invoice_cancel`, which lock the
books, re-check the user's permission, log the move and do the side effects. Approve
(a closed invoice of the external ERP mode) asks what the ERP would send: the due date,
an external total and a receipt link; "Upload receipt" attaches the ERP's PDF.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django_fsm.admin import FSMAdminMixin

from accounts.admin.display import badge, local_minute, money_html
from accounts.admin.forms import show_domain_error
from accounts.admin.views import get_viewable, render_action, require_perm
from billing_site.admin_paginator import EstimatedCountPaginator
from billing_site.admin_readonly import ReadOnlyInline
from billing_site.exceptions import DomainError

from ..models import (
    Invoice,
    InvoiceLine,
    InvoiceStatusChange,
    Payment,
    PaymentAllocation,
)
from ..services import invoice_approve, invoice_attach_receipt, invoice_cancel
from ..services.erp import APPROVE_INVOICE, RECEIPT_STATUSES
from .forms import ApproveForm, ReceiptForm

STATUS_TONES = {
    "open": "muted",
    "closed": "info",
    "approved": "warn",
    "overdue": "bad",
    "paid": "ok",
    "cancelled": "muted",
}
SHORT_KINDS = {
    "postpaid": "Postpaid",
    "credit": "Credit",
    "statement": "Statement",
    "manual": "Manual",
}
PAYMENT_TONES = {"waiting_for_payment": "warn", "completed": "ok", "cancelled": "muted"}


class LineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = readonly_fields = ("description", "kind", "quantity", "amount")


class StatusChangeInline(ReadOnlyInline):
    model = InvoiceStatusChange
    verbose_name_plural = "Status history"
    fields = readonly_fields = ("changed_at", "from_status", "to_status", "changed_by", "reason")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


class AllocationInline(ReadOnlyInline):
    model = PaymentAllocation
    verbose_name_plural = "Money applied"
    fields = readonly_fields = ("allocated_at", "amount")


@admin.register(Invoice)
class InvoiceAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    list_display = (
        "number",
        "client",
        "kind_label",
        "period",
        "status_badge",
        "total_display",
        "paid_display",
        "due",
    )
    list_filter = ("status", "kind", "currency", "issued_on")
    date_hierarchy = "issued_on"
    search_fields = ("number", "account__client__name", "account__client__email")
    list_select_related = ("account__client",)
    raw_id_fields = ("account",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ("-issued_on", "-id")
    inlines = (LineInline, AllocationInline, StatusChangeInline)
    readonly_fields = (
        "number",
        "account_link",
        "kind",
        "status_badge",
        "currency",
        "period",
        "issued_on",
        "due_date",
        "subtotal",
        "rounding",
        "total_display",
        "paid_display",
        "approved_at",
        "paid_at",
        "payment_state",
        "pdf_link",
        "erp_managed",
        "receipt_upload",
        "billed_entries",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "account_link",
                    "kind",
                    "status_badge",
                    "erp_managed",
                    "pdf_link",
                )
            },
        ),
        (
            "Period and dates",
            {
                "fields": (
                    "period",
                    "billed_entries",
                    "issued_on",
                    "due_date",
                    "approved_at",
                    "paid_at",
                )
            },
        ),
        (
            "Amounts",
            {"fields": ("currency", "subtotal", "rounding", "total_display", "paid_display")},
        ),
        ("Payment", {"fields": ("payment_state",)}),
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # The change form is read-only; "change" stays on so the FSM buttons show, but there
    # is nothing to save.
    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="client", ordering="account__client__name")
    def client(self, obj):
        return obj.account.client.name

    @admin.display(description="billed entries")
    def billed_entries(self, obj):
        """The window of billing instants the invoice bills, and its entries."""
        url = reverse("admin:ledger_entry_changelist") + f"?invoice={obj.pk}"
        if obj.bills_until is None:
            window = "the entries booked for it by name"
        elif obj.bills_from is None:
            window = f"billing instants before {local_minute(obj.bills_until)}"
        else:
            window = (
                f"billing instants from {local_minute(obj.bills_from)} "
                f"to before {local_minute(obj.bills_until)}"
            )
        return format_html('<a href="{}">View the entries</a> ({})', url, window)

    @admin.display(description="account")
    def account_link(self, obj):
        url = reverse("admin:accounts_billingaccount_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account)

    @admin.display(description="kind", ordering="kind")
    def kind_label(self, obj):
        return SHORT_KINDS.get(obj.kind, obj.kind)

    @admin.display(description="period", ordering="period_start")
    def period(self, obj):
        start, end = obj.period_start, obj.period_end
        whole_month = (
            start.day == 1 and (end + timedelta(days=1)).day == 1 and (start.month == end.month)
        )
        if whole_month:
            return f"{start:%b %Y}"
        return f"{start:%d %b} – {end:%d %b %Y}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_TONES.get(obj.status, "muted"))

    @admin.display(description="total", ordering="total")
    def total_display(self, obj):
        return money_html(obj.total, obj.currency)

    @admin.display(description="paid", ordering="amount_paid")
    def paid_display(self, obj):
        return money_html(obj.amount_paid, obj.currency)

    @admin.display(description="due", ordering="due_date")
    def due(self, obj):
        return f"{obj.due_date:%Y-%m-%d}" if obj.due_date else "—"

    @admin.display(description="payment")
    def payment_state(self, obj):
        payment = Payment.objects.filter(invoice=obj).first()
        if payment is None:
            return "—"
        if payment.due_date:
            due = f", due {payment.due_date:%d %b %Y}"
        elif obj.erp_managed:
            due = ", no due date: waiting for the ERP to approve the invoice"
        else:
            due = ", no due date"
        external = ""
        if payment.external_total is not None:
            external = format_html(
                "<br>External total {}{}",
                money_html(payment.external_total, payment.external_currency),
                "" if obj.payable_from_balance else " (not payable from balance)",
            )
        url = reverse("admin:invoicing_payment_change", args=[payment.pk])
        return format_html(
            '<a href="{}">{}</a>{}{}',
            url,
            badge(payment.get_status_display(), PAYMENT_TONES[payment.status]),
            due,
            external,
        )

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        url = reverse("admin:invoicing_invoice_pdf", args=[obj.pk])
        link = format_html('<a class="button" href="{}">Download PDF</a>', url)
        payment = Payment.objects.filter(invoice=obj).first()
        if payment is not None and payment.receipt_file:
            receipt = reverse("admin:invoicing_payment_receipt", args=[payment.pk])
            link = format_html('{} <a class="button" href="{}">ERP receipt</a>', link, receipt)
        if payment is not None and payment.receipt_url:
            link = format_html(
                '{} <a href="{}" rel="noopener noreferrer" target="_blank">ERP link</a>',
                link,
                payment.receipt_url,
            )
        return link

    @admin.display(description="ERP receipt")
    def receipt_upload(self, obj):
        if not (obj.erp_managed and obj.status in RECEIPT_STATUSES):
            return "—"
        upload = reverse("admin:invoicing_invoice_receipt", args=[obj.pk])
        return format_html('<a class="button" href="{}">Upload receipt</a>', upload)

    def get_fieldsets(self, request, obj=None):
        """Managers get the receipt upload beside the PDF of an invoice of the ERP."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.erp_managed or not request.user.has_perm(APPROVE_INVOICE):
            return fieldsets
        (name, options), *rest = fieldsets
        return ((name, {**options, "fields": (*options["fields"], "receipt_upload")}), *rest)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="invoicing_invoice_pdf",
            ),
            path(
                "<path:object_id>/receipt/",
                self.admin_site.admin_view(self.receipt_view),
                name="invoicing_invoice_receipt",
            ),
            *super().get_urls(),
        ]

    def _change_url(self, invoice):
        return reverse("admin:invoicing_invoice_change", args=[invoice.pk])

    def receipt_view(self, request, object_id):
        """Attach the ERP's invoice PDF, as the ERP does with POST invoices/{id}/receipt/."""
        invoice = get_viewable(self, request, object_id)
        require_perm(request, APPROVE_INVOICE)
        form = ReceiptForm(
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,
        )
        if form.is_valid():
            try:
                invoice_attach_receipt(
                    invoice_id=invoice.pk,
                    upload=form.cleaned_data["file"],
                    attached_by=request.user,
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                self.message_user(
                    request,
                    f"Receipt attached to invoice {invoice.number}: the client's PDF download "
                    "serves it now.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(invoice))
        return render_action(
            self,
            request,
            title=f"Upload the ERP's receipt for invoice {invoice.number}",
            form=form,
            submit_label="Upload receipt",
            cancel_url=self._change_url(invoice),
        )

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        """Approve gets the ERP's form, with each refusal on the field it concerns."""
        if transition_name != "approve":
            return super().fsm_transition_view(request, object_id, transition_name, **kwargs)
        invoice = get_viewable(self, request, object_id)
        require_perm(request, APPROVE_INVOICE)
        form = ApproveForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                invoice_approve(
                    invoice_id=invoice.pk,
                    due_date=data["due_date"],
                    external_total=data.get("external_total"),
                    external_currency=data.get("external_currency"),
                    receipt_url=data.get("receipt_url"),
                    approved_by=request.user,
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                self.message_user(
                    request,
                    f"Invoice {invoice.number} approved, due {data['due_date']:%d %b %Y}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(invoice))
        return render_action(
            self,
            request,
            title=f"Approve invoice {invoice.number}",
            form=form,
            submit_label="Approve",
            cancel_url=self._change_url(invoice),
            intro=f"Fixes the payment's due date; the client is asked to pay "
            f"{invoice.total.normalize():f} {invoice.currency}, or the external total when "
            "the ERP's invoice differs (then not from the balance).",
        )

    def pdf_view(self, request, object_id):
        invoice = self.get_object(request, unquote(object_id))
        if invoice is None or not self.has_view_permission(request, invoice):
            raise Http404("No such invoice.")
        from ..pdf import invoice_pdf

        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        """Route the FSM buttons to the services instead of calling the model directly."""
        kwargs = kwargs or {}
        try:
            if transition_name == "approve":
                invoice_approve(
                    invoice_id=obj.pk,
                    due_date=kwargs.get("due_date"),
                    external_total=kwargs.get("external_total"),
                    external_currency=kwargs.get("external_currency"),
                    receipt_url=kwargs.get("receipt_url"),
                    approved_by=request.user,
                )
            elif transition_name == "cancel":
                invoice_cancel(
                    invoice_id=obj.pk, reason=kwargs.get("reason", ""), cancelled_by=request.user
                )
            else:
                raise DomainError(f"'{transition_name}' is not done by hand.")
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            return False
        self.message_user(
            request, f"Invoice {obj.number}: {transition_name} done.", messages.SUCCESS
        )
        return True
