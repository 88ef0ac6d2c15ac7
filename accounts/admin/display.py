"""How money and states look in the admin: shared by the account and ledger pages.

Amounts are shown exactly: at least the currency's minor unit, more places only when
the ledger holds them (sub-cent usage), never rounded. `None` for usable means the
account may spend without limit.
"""

from decimal import Decimal

from django.utils import timezone
from django.utils.html import format_html

from accounts.models import PaymentMode
from billing_site.money import currency_places

UNLIMITED = "unlimited"


def amount_text(amount: Decimal | None, currency: str) -> str:
    """`-1,234.5` in USD → `-1,234.50`; `0.012345` → `0.012345`; None → `unlimited`."""
    if amount is None:
        return UNLIMITED
    exponent = amount.normalize().as_tuple().exponent
    significant = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(currency_places(currency), significant)
    return f"{amount:,.{places}f}"


def money_html(amount: Decimal | None, currency: str, *, with_currency: bool = True):
    """An amount for a table cell: negative in the error colour, currency beside it."""
    if amount is None:
        return format_html('<span class="money unlimited">{}</span>', UNLIMITED)
    css = "neg" if amount < 0 else ("zero" if amount == 0 else "pos")
    text = amount_text(amount, currency)
    # Digits below the minor unit (sub-cent usage) stay visible but quieter.
    places = currency_places(currency)
    cut = text.index(".") + places + 1 if "." in text else len(text)
    number = format_html(
        '<span class="money {}">{}<span class="subunit">{}</span></span>',
        css,
        text[:cut],
        text[cut:],
    )
    if not with_currency:
        return number
    return format_html('{}&nbsp;<span class="ccy">{}</span>', number, currency)


def local_minute(moment) -> str:
    """A timestamp for a busy list: `2025-06-01 14:05`, in the site's time zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def badge(text: str, tone: str):
    """A small coloured label for a mode or state (`tone`: ok, warn, bad, info, muted)."""
    return format_html('<span class="badge badge-{}">{}</span>', tone, text)


MODE_TONES = {"prepaid": "muted", "postpaid": "info", "credit_limit": "warn"}
CREDIT_TONES = {"active": "ok", "blocked": "bad"}
PERMISSION_TONES = {
    "not_requested": "muted",
    "under_review": "warn",
    "approved": "ok",
    "declined": "bad",
}
MODE_SHORT = {"prepaid": "Prepaid", "postpaid": "Postpaid", "credit_limit": "Credit"}
HOLD_TONES = {"pending": "warn", "committed": "ok", "released": "muted", "expired": "muted"}


def figure_cards(figures, *, pending_holds: int | None = None, holds_url: str = ""):
    """The five figures of docs/design.md §2 as cards for the account page, in display order."""
    currency = figures.currency
    reserved_hint = "held for transactions in progress"
    if pending_holds:
        reserved_hint = format_html(
            '<a href="{}">{} pending hold{}</a>',
            holds_url,
            pending_holds,
            "" if pending_holds == 1 else "s",
        )
    cards = [
        {
            "key": "balance",
            "label": "Balance",
            "value": money_html(figures.balance, currency, with_currency=False),
            "hint": "expecting invoice + amount due",
        },
        {
            "key": "unbilled",
            "label": "Expecting invoice",
            "value": money_html(figures.unbilled, currency, with_currency=False),
            "hint": "charges not invoiced yet",
        },
        {
            "key": "amount_due",
            "label": "Amount due",
            "value": money_html(figures.amount_due, currency, with_currency=False),
            "hint": "invoiced minus paid (negative = owed)",
        },
        {
            "key": "reserved",
            "label": "Reserved",
            "value": money_html(figures.reserved, currency, with_currency=False),
            "hint": reserved_hint,
        },
        {
            "key": "usable",
            "label": "Usable",
            "value": money_html(figures.usable, currency, with_currency=False),
            "hint": "can be spent now"
            if figures.usable is not None
            else "postpaid: no spending limit",
        },
    ]
    for card in cards:
        card["currency"] = currency
    return cards


def mode_summary(account):
    """One line saying how this account may spend, for the top of its page."""
    mode = badge(account.get_payment_mode_display(), MODE_TONES[account.payment_mode])
    if account.payment_mode == PaymentMode.PREPAID:
        return format_html("{} · spends only money it has", mode)
    if account.payment_mode == PaymentMode.POSTPAID:
        return format_html(
            "{} · the balance may go below zero without limit; nothing blocks it automatically",
            mode,
        )
    return format_html(
        "{} of {} on the {} · credit {} · invoices due after {} days",
        mode,
        money_html(account.credit_limit, account.currency),
        account.get_credit_limit_scope_display().lower(),
        badge(account.get_credit_status_display(), CREDIT_TONES[account.credit_status]),
        account.payment_term_days,
    )
