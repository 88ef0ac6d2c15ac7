"""The `data` of an event: the object as the API shows it, frozen when the event happens.

Invoices travel as their summary: every field of `GET invoices/{id}/` except `lines` and
`payment` (fetch the invoice for those). The monthly run records one event per invoice
in bulk, and building the full answer for each would cost as much as the run itself.
"""

from api.serializers.money import money_out
from ledger.selectors import account_figures


def invoice_summary(invoice) -> dict:
    currency = invoice.currency
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "account": invoice.account_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "issued_on": invoice.issued_on.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "currency": currency,
        "subtotal": money_out(invoice.subtotal, currency),
        "rounding": money_out(invoice.rounding, currency),
        "total": money_out(invoice.total, currency),
        "amount_paid": money_out(invoice.amount_paid, currency),
        "outstanding": money_out(invoice.outstanding, currency),
        "pdf_url": f"/api/v1/invoices/{invoice.pk}/pdf/",
    }


def account_data(account) -> dict:
    from api.serializers.accounts import AccountSerializer, AccountView

    return dict(AccountSerializer(AccountView(account, account_figures(account.pk))).data)
