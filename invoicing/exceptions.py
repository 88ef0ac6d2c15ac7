from billing_site.exceptions import InvalidTransition


class InvoiceStateError(InvalidTransition):
    """The invoice's (or its payment's) state does not allow the action (HTTP 409)."""
