from django import template

from ..selectors import money as money_text

register = template.Library()


@register.simple_tag
def money(amount, currency):
    """`1,234.50 USD`, exact to the ledger's places when they are used."""
    return money_text(amount, currency)


@register.filter
def negate(amount):
    """Invoice lines are signed like the ledger (charges negative); a bill shows them positive."""
    return -amount
