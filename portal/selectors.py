"""What the portal reads, always scoped to the signed-in user's client.

Every object a customer can name by id is fetched through here, filtered by the
client, so another client's id is a 404 on every path.
"""

from dataclasses import dataclass

from django.http import Http404

from accounts.admin.display import amount_text
from accounts.models import BillingAccount, ClientUser, CreditStatus, PaymentMode
from invoicing.models import Invoice, InvoiceStatus, PaymentStatus
from invoicing.selectors import invoices_visible, oldest_overdue_invoice
from ledger.selectors import Figures, account_figures
from subscriptions.models import (
    PaymentRequest,
    PaymentRequestStatus,
    Subscription,
    SubscriptionStatus,
)
from subscriptions.selectors import account_subscriptions, plans_catalogue


def membership(user) -> ClientUser | None:
    if not user.is_authenticated:
        return None
    return ClientUser.objects.select_related("client__account").filter(user_id=user.pk).first()


def money(amount, currency: str) -> str:
    """`1,234.50 USD`; None (no limit) → `Unlimited`."""
    if amount is None:
        return "Unlimited"
    return f"{amount_text(amount, currency)} {currency}"


# -- the account ------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureCard:
    label: str
    value: str
    currency: str
    negative: bool
    help: str


def figure_cards(figures: Figures) -> list[FigureCard]:
    """The five figures of docs/design.md §2 under their customer-facing names, in the
    order a customer reads."""
    ccy = figures.currency
    rows = [
        ("Usable", figures.usable, "What you can spend now."),
        ("Reserved", figures.reserved, "Held for services in progress."),
        ("Expecting invoice", figures.unbilled, "Charges not yet on an invoice."),
        ("Amount due", figures.amount_due, "Invoiced, minus what you paid (negative: owed)."),
        ("Current balance", figures.balance, "Expecting invoice plus amount due."),
    ]
    return [
        FigureCard(
            label,
            "Unlimited" if value is None else amount_text(value, ccy),
            "" if value is None else ccy,
            value is not None and value < 0,
            help_text,
        )
        for label, value, help_text in rows
    ]


def payment_mode_text(account: BillingAccount) -> str:
    if account.payment_mode == PaymentMode.PREPAID:
        return "Prepaid: you spend the money on your balance"
    if account.payment_mode == PaymentMode.POSTPAID:
        return "Postpaid (pay-as-you-go): billed monthly, no limit"
    return f"Credit limit of {money(account.credit_limit, account.currency)}"


@dataclass(frozen=True)
class CreditNotice:
    text: str
    invoice: Invoice | None


def credit_notice(account: BillingAccount) -> CreditNotice | None:
    """For blocked credit: the block's reason, and which invoice to pay when paying lifts it.

    Only the overdue rule's block lifts when the overdue invoices are paid; a block set by
    staff gives the reason staff recorded, whatever else is overdue meanwhile.
    """
    if account.payment_mode != PaymentMode.CREDIT_LIMIT:
        return None
    if account.credit_status != CreditStatus.BLOCKED:
        return None
    overdue = oldest_overdue_invoice(account.pk) if account.credit_blocked_by_overdue else None
    if overdue is not None:
        due = f"{overdue.due_date:%d %b %Y}" if overdue.due_date else "no due date"
        return CreditNotice(
            f"Your credit is blocked because invoice {overdue.number} (due {due}) is overdue: "
            "pay it to unblock",
            overdue,
        )
    return CreditNotice(
        f"Your credit is blocked by our billing team: {account.credit_block_why} You can "
        "spend only the money on your balance; contact us to have it unblocked",
        None,
    )


def dashboard_context(account: BillingAccount) -> dict:
    figures = account_figures(account)
    return {
        "cards": figure_cards(figures),
        "mode_text": payment_mode_text(account),
        "credit_notice": credit_notice(account),
        "is_prepaid": account.payment_mode == PaymentMode.PREPAID,
    }


# -- invoices ---------------------------------------------------------------------------

INVOICE_WORDS = {
    InvoiceStatus.CLOSED: ("Being prepared", "muted"),
    InvoiceStatus.APPROVED: ("To pay", "info"),
    InvoiceStatus.OVERDUE: ("Overdue", "bad"),
    InvoiceStatus.PAID: ("Paid", "ok"),
    InvoiceStatus.CANCELLED: ("Cancelled", "muted"),
}


def invoice_words(invoice: Invoice) -> tuple[str, str]:
    return INVOICE_WORDS.get(invoice.status, (invoice.get_status_display(), "muted"))


def client_invoices(client_id: int):
    return invoices_visible(client_id).order_by("-issued_on", "-id")


def client_invoice(client_id: int, pk: int) -> Invoice:
    invoice = client_invoices(client_id).filter(pk=pk).first()
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


def invoice_payment(invoice: Invoice):
    try:
        return invoice.payment
    except Invoice.payment.RelatedObjectDoesNotExist:
        return None


@dataclass(frozen=True)
class Payability:
    """Whether and how a customer may pay an invoice now; `reason` when not."""

    payable: bool
    reason: str = ""
    amount: object = None
    currency: str = ""
    from_balance: bool = True


def invoice_payability(invoice: Invoice) -> Payability:
    payment = invoice_payment(invoice)
    if invoice.status not in (InvoiceStatus.APPROVED, InvoiceStatus.OVERDUE):
        if invoice.status == InvoiceStatus.CLOSED:
            return Payability(
                False,
                f"Invoice {invoice.number} is being prepared: you can pay it once it is "
                "approved and has a due date.",
            )
        return Payability(
            False,
            f"Invoice {invoice.number} is {invoice_words(invoice)[0].lower()}: "
            "there is nothing to pay.",
        )
    if payment is not None and payment.status == PaymentStatus.WAITING and payment.due_date is None:
        return Payability(
            False,
            f"Invoice {invoice.number} is waiting for our accounting system to set its due "
            "date: you can pay it once it has one.",
        )
    if invoice.outstanding <= 0:
        return Payability(False, f"Invoice {invoice.number} has nothing left to pay.")
    if not invoice.payable_from_balance:
        return Payability(
            True,
            amount=payment.external_total,
            currency=payment.external_currency,
            from_balance=False,
        )
    return Payability(True, amount=invoice.outstanding, currency=invoice.currency)


def waiting_requests(*, account_id: int, purpose: str | None = None, invoice_id=None):
    """The account's payment requests still waiting for the client's money."""
    requests = PaymentRequest.objects.filter(
        account_id=account_id, status=PaymentRequestStatus.PENDING
    )
    if invoice_id is not None:
        requests = requests.filter(invoice_id=invoice_id)
    if purpose is not None:
        requests = requests.filter(purpose=purpose)
    return list(requests.order_by("-created_at", "-id"))


# -- subscriptions ----------------------------------------------------------------------

SUBSCRIPTION_WORDS = {
    SubscriptionStatus.PENDING_APPROVAL: (
        "Your order is waiting: your account is under review",
        "warn",
    ),
    SubscriptionStatus.ACTIVE: ("Active", "ok"),
    SubscriptionStatus.SUSPENDED: ("Suspended", "bad"),
    SubscriptionStatus.CANCELLED: ("Cancelled", "muted"),
}


def subscription_words(subscription: Subscription) -> tuple[str, str]:
    return SUBSCRIPTION_WORDS.get(subscription.status, (subscription.get_status_display(), "muted"))


def client_subscriptions(account_id: int):
    return account_subscriptions(account_id)


def client_subscription(account_id: int, pk: int) -> Subscription:
    subscription = client_subscriptions(account_id).filter(pk=pk).first()
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


def orderable_plans(account: BillingAccount):
    """Plans sold now in the account's currency (the service still decides the rest)."""
    return [p for p in plans_catalogue(active_only=True) if p.sold_in(account.currency)]
