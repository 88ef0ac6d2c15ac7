"""Invoices: list, detail, PDF, and paying one (or topping up) through a gateway.

Paying asks for a payment request (`payment_request_for_invoice`,
`payment_request_top_up`): the test gateway settles at once (offered only to users who
may confirm payments); a bank transfer waits, with its reference and instructions, on
the invoice page until staff confirm the money in the admin.
"""

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing_site.exceptions import DomainError
from invoicing.pdf import invoice_document, invoice_pdf_filename
from subscriptions.models import PaymentPurpose, PaymentRequestStatus
from subscriptions.services import payment_request_for_invoice, payment_request_top_up

from ..forms import PayForm, TopUpForm
from ..selectors import (
    client_invoice,
    client_invoices,
    invoice_payability,
    invoice_payment,
    invoice_words,
    money,
    waiting_requests,
)
from .base import client_required, refused


def _row(invoice):
    words, tone = invoice_words(invoice)
    return {"invoice": invoice, "status": words, "tone": tone}


@client_required
def invoice_list(request):
    rows = [_row(i) for i in client_invoices(request.client.pk)]
    return render(request, "portal/invoices/list.html", {"rows": rows})


@client_required
def invoice_detail(request, pk: int):
    invoice = client_invoice(request.client.pk, pk)
    payment = invoice_payment(invoice)
    payability = invoice_payability(invoice)
    external = None
    if payment is not None and payment.differs_from(invoice):
        external = money(payment.external_total, payment.external_currency)
    return render(
        request,
        "portal/invoices/detail.html",
        {
            **_row(invoice),
            "lines": invoice.lines.all(),
            "payability": payability,
            "external_total": external,
            # A transfer asked for an invoice that is paid by now is no longer awaited.
            "waiting": (
                waiting_requests(account_id=invoice.account_id, invoice_id=invoice.pk)
                if payability.payable
                else []
            ),
        },
    )


@client_required
def invoice_download(request, pk: int):
    invoice = client_invoice(request.client.pk, pk)
    response = HttpResponse(invoice_document(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
    return response


@client_required
@require_http_methods(["GET", "POST"])
def invoice_pay(request, pk: int):
    invoice = client_invoice(request.client.pk, pk)
    payability = invoice_payability(invoice)
    if not payability.payable:
        messages.error(request, payability.reason)
        return redirect("portal:invoice_detail", pk=invoice.pk)
    form = PayForm(request.POST or None, user=request.user, initial={"nonce": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        try:
            asked = payment_request_for_invoice(
                invoice_id=invoice.pk,
                gateway=form.cleaned_data["gateway"],
                requested_by=request.user,
                idempotency_key=f"portal:invoice:{invoice.pk}:{form.cleaned_data['nonce']}",
            )
        except DomainError as error:
            refused(request, error)
            return redirect("portal:invoice_pay", pk=invoice.pk)
        _asked_message(request, asked, "Thank you: {amount} received.")
        return redirect("portal:invoice_detail", pk=invoice.pk)
    return render(
        request,
        "portal/invoices/pay.html",
        {
            **_row(invoice),
            "form": form,
            "payability": payability,
            "amount_text": money(payability.amount, payability.currency),
        },
    )


def _asked_message(request, asked, done: str) -> None:
    """Money there at once: thanks; a transfer: what to send and the reference to quote."""
    if asked.status == PaymentRequestStatus.SUCCEEDED:
        messages.success(request, done.format(amount=money(asked.amount, asked.currency)))
    else:
        messages.info(request, asked.instructions)


@client_required
@require_http_methods(["GET", "POST"])
def top_up(request):
    account = request.account
    form = TopUpForm(request.POST or None, user=request.user, initial={"nonce": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        try:
            asked = payment_request_top_up(
                account_id=account.pk,
                amount=form.cleaned_data["amount"],
                gateway=form.cleaned_data["gateway"],
                requested_by=request.user,
                idempotency_key=f"portal:top-up:{account.pk}:{form.cleaned_data['nonce']}",
            )
        except DomainError as error:
            refused(request, error)
            return redirect("portal:top_up")
        _asked_message(request, asked, "{amount} added to your balance.")
        return redirect("portal:dashboard")
    return render(
        request,
        "portal/top_up.html",
        {
            "form": form,
            "currency": account.currency,
            "waiting": waiting_requests(account_id=account.pk, purpose=PaymentPurpose.TOP_UP),
        },
    )
