"""Payments: read-only records; managers approve or cancel them through the services.

In external ERP mode the ERP approves a payment once the client paid its invoice; a
manager can do the same here ("Approve payment" books the money and pays the invoice)
or cancel a waiting payment. Each page says what the action does; `payment_approve` /
`payment_cancel` lock the books, re-check the permission and log the move.
"""

from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin.display import badge, money_html
from accounts.admin.forms import show_domain_error
from accounts.admin.views import get_viewable, render_action, require_perm
from billing_site.exceptions import DomainError

from .. import receipts
from ..models import Payment, PaymentStatus, PaymentStatusChange
from ..services import payment_approve, payment_cancel
from ..services.erp import APPROVE_PAYMENT
from .forms import PaymentApproveForm, PaymentCancelForm
from .invoices import PAYMENT_TONES


class PaymentHistoryInline(admin.TabularInline):
    model = PaymentStatusChange
    verbose_name_plural = "Status history"
    fields = readonly_fields = ("changed_at", "from_status", "to_status", "changed_by", "reason")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "invoice",
        "client",
        "status_badge",
        "due_date",
        "amount",
        "external",
        "created_at",
        "completed_at",
    )
    list_filter = ("status",)
    search_fields = ("invoice__number", "invoice__account__client__name")
    list_select_related = ("invoice__account__client",)
    raw_id_fields = ("invoice",)
    show_full_result_count = False
    inlines = (PaymentHistoryInline,)
    fields = readonly_fields = (
        "invoice_link",
        "client",
        "status_badge",
        "due_date",
        "amount",
        "external",
        "receipt",
        "created_at",
        "completed_at",
        "cancelled_at",
        "actions_html",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        """The approve and cancel buttons only for those who may use them."""
        fields = super().get_fields(request, obj)
        if request.user.has_perm(APPROVE_PAYMENT):
            return fields
        return [f for f in fields if f != "actions_html"]

    @admin.display(description="invoice")
    def invoice_link(self, obj):
        url = reverse("admin:invoicing_invoice_change", args=[obj.invoice_id])
        return format_html(
            '<a href="{}">{}</a> ({})', url, obj.invoice.number, obj.invoice.get_status_display()
        )

    @admin.display(description="client")
    def client(self, obj):
        return obj.invoice.account.client.name

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), PAYMENT_TONES.get(obj.status, "muted"))

    @admin.display(description="amount")
    def amount(self, obj):
        return money_html(obj.invoice.total, obj.invoice.currency)

    @admin.display(description="external total")
    def external(self, obj):
        if obj.external_total is None:
            return "—"
        shown = money_html(obj.external_total, obj.external_currency)
        if obj.differs_from(obj.invoice):
            return format_html("{}<br>not payable from balance", shown)
        return shown

    @admin.display(description="receipt")
    def receipt(self, obj):
        parts = []
        if obj.receipt_file:
            url = reverse("admin:invoicing_payment_receipt", args=[obj.pk])
            when = f" (uploaded {obj.receipt_uploaded_at:%d %b %Y %H:%M})"
            parts.append(format_html('<a href="{}">Receipt PDF</a>{}', url, when))
        if obj.receipt_url:
            parts.append(
                format_html(
                    '<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>',
                    obj.receipt_url,
                    obj.receipt_url,
                )
            )
        if not parts:
            return "— (the client gets the platform's PDF)"
        return format_html("{}<br>{}", *parts) if len(parts) == 2 else parts[0]

    @admin.display(description="actions")
    def actions_html(self, obj):
        if obj.status != PaymentStatus.WAITING:
            return "—"
        if obj.due_date is None:
            return "Waiting for the ERP to approve the invoice and set a due date."
        approve = reverse("admin:invoicing_payment_approve", args=[obj.pk])
        cancel = reverse("admin:invoicing_payment_cancel", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">Approve payment</a> '
            '<a class="button" href="{}">Cancel payment</a>',
            approve,
            cancel,
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/approve/",
                view(self.approve_view),
                name="invoicing_payment_approve",
            ),
            path(
                "<path:object_id>/cancel/", view(self.cancel_view), name="invoicing_payment_cancel"
            ),
            path(
                "<path:object_id>/receipt/",
                view(self.receipt_view),
                name="invoicing_payment_receipt",
            ),
            *super().get_urls(),
        ]

    def _change_url(self, payment):
        return reverse("admin:invoicing_payment_change", args=[payment.pk])

    def receipt_view(self, request, object_id):
        payment = get_viewable(self, request, object_id)
        data = receipts.read(payment.receipt_file)
        if data is None:
            raise Http404("This payment has no receipt file.")
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="{payment.invoice.number}-receipt.pdf"'
        )
        return response

    def approve_view(self, request, object_id):
        payment = get_viewable(self, request, object_id)
        require_perm(request, APPROVE_PAYMENT)
        invoice = payment.invoice
        form = PaymentApproveForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                payment_approve(payment_id=payment.pk, approved_by=request.user)
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                self.message_user(
                    request,
                    f"Payment approved: invoice {invoice.number} is paid and the money is "
                    "booked on the account.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(payment))
        return render_action(
            self,
            request,
            title=f"Approve the payment of invoice {invoice.number}",
            form=form,
            submit_label="Approve payment",
            cancel_url=self._change_url(payment),
            intro=f"The client paid outside the platform. Approving books "
            f"{invoice.outstanding.normalize():f} {invoice.currency} as money received on "
            f"{invoice.account.client.name}'s account, applied to this invoice, which becomes "
            "paid; its credit is unblocked when no other invoice is overdue.",
        )

    def cancel_view(self, request, object_id):
        payment = get_viewable(self, request, object_id)
        require_perm(request, APPROVE_PAYMENT)
        form = PaymentCancelForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                payment_cancel(
                    payment_id=payment.pk,
                    cancelled_by=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                self.message_user(
                    request,
                    f"Payment of invoice {payment.invoice.number} cancelled.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(payment))
        return render_action(
            self,
            request,
            title=f"Cancel the payment of invoice {payment.invoice.number}",
            form=form,
            submit_label="Cancel payment",
            danger=True,
            cancel_url=self._change_url(payment),
            intro="The client is no longer asked to pay through this payment. The invoice "
            "stays as it is, amount owed included; to void the debt, cancel the invoice.",
        )
