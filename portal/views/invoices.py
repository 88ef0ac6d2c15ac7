"""Invoices: list, detail, PDF, and paying one through a gateway.

There is no service yet for paying an invoice (or topping up) through a gateway:
`PaymentRequest` only serves renewals and upsells. So a bank transfer is shown as
instructions (staff book the money when it arrives), and the test gateway, which
settles at once, books the money with `ledger_receive_payment`, which applies it to
the oldest unpaid invoices first. Like every gateway that settles at once, it is
offered only to users who may confirm payments.
"""

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing_site.exceptions import DomainError, require_perm
from invoicing.pdf import invoice_document, invoice_pdf_filename
from ledger.services import ledger_receive_payment
from subscriptions.gateways import get_gateway
from subscriptions.models import CONFIRM_PERMISSION

from ..forms import PayForm, TopUpForm
from ..selectors import (
    client_invoice,
    client_invoices,
    invoice_payability,
    invoice_payment,
    invoice_words,
    money,
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
    external = None
    if payment is not None and payment.differs_from(invoice):
        external = money(payment.external_total, payment.external_currency)
    return render(
        request,
        "portal/invoices/detail.html",
        {
            **_row(invoice),
            "lines": invoice.lines.all(),
            "payability": invoice_payability(invoice),
            "external_total": external,
        },
    )


@client_required
def invoice_download(request, pk: int):
    invoice = client_invoice(request.client.pk, pk)
    response = HttpResponse(invoice_document(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
    return response


def bank_transfer_text(amount, currency: str, reference: str) -> str:
    return (
        f"Transfer {money(amount, currency)} quoting the reference {reference}. "
        "We mark the invoice paid once the money arrives."
    )


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
        gateway = get_gateway(form.cleaned_data["gateway"])
        if not gateway.settles_at_once:
            messages.info(
                request,
                bank_transfer_text(payability.amount, payability.currency, invoice.number),
            )
            return redirect("portal:invoice_detail", pk=invoice.pk)
        if not payability.from_balance:
            messages.error(
                request,
                f"Invoice {invoice.number} was billed by our accounting system for "
                f"{money(payability.amount, payability.currency)}: pay it by bank transfer.",
            )
            return redirect("portal:invoice_pay", pk=invoice.pk)
        try:
            require_perm(
                request.user, CONFIRM_PERMISSION, f"pay through the {gateway.name} gateway"
            )
            # No invoice-payment service exists; money received is the ledger's to book.
            ledger_receive_payment(
                account_id=invoice.account_id,
                amount=payability.amount,
                idempotency_key=f"portal:invoice:{invoice.pk}:{form.cleaned_data['nonce']}",
                reference=f"{invoice.number} via {gateway.label}",
                created_by=request.user,
            )
        except DomainError as error:
            refused(request, error)
            return redirect("portal:invoice_pay", pk=invoice.pk)
        messages.success(
            request, f"Thank you: {money(payability.amount, payability.currency)} received."
        )
        return redirect("portal:invoice_detail", pk=invoice.pk)
    return render(
        request,
        "portal/invoices/pay.html",
        {
            **_row(invoice),
            "form": form,
            "payability": payability,
            "amount_text": money(payability.amount, payability.currency),
            "transfer_text": bank_transfer_text(
                payability.amount, payability.currency, invoice.number
            ),
        },
    )


@client_required
@require_http_methods(["GET", "POST"])
def top_up(request):

    account = request.account
    reference = f"ACC-{account.pk:06d}"
    form = TopUpForm(request.POST or None, user=request.user, initial={"nonce": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        amount = form.cleaned_data["amount"]
        gateway = get_gateway(form.cleaned_data["gateway"])
        if not gateway.settles_at_once:
            messages.info(
                request,
                f"Transfer {money(amount, account.currency)} quoting the reference {reference}. "
                "It is added to your balance once the money arrives.",
            )
            return redirect("portal:dashboard")
        try:
            require_perm(
                request.user, CONFIRM_PERMISSION, f"pay through the {gateway.name} gateway"
            )
            # No top-up purpose exists for payment requests; the test gateway settles at
            # once, which is booking money received.
            ledger_receive_payment(
                account_id=account.pk,
                amount=amount,
                idempotency_key=f"portal:top-up:{account.pk}:{form.cleaned_data['nonce']}",
                reference=f"Top-up via {gateway.label}",
                created_by=request.user,
            )
        except DomainError as error:
            refused(request, error)
            return redirect("portal:top_up")
        messages.success(request, f"{money(amount, account.currency)} added to your balance.")
        return redirect("portal:dashboard")
    return render(
        request,
        "portal/top_up.html",
        {"form": form, "reference": reference, "currency": account.currency},
    )
