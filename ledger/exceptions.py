from billing_site.exceptions import DomainError, InvalidInput


class SpendRefused(DomainError):
    """The payment mode does not allow this spend (HTTP 402)."""


class InsufficientFunds(SpendRefused):
    code = "insufficient_funds"


class CreditBlocked(SpendRefused):
    code = "credit_blocked"


class CeilingReached(SpendRefused):
    """A spend or hold would take the account's figures past what the books hold (402).

    A refusal like the others: the account can spend again once money comes in.
    """

    code = "ceiling_exceeded"


class PaymentCeilingReached(InvalidInput):
    """Money received would take the balance past what the books hold (HTTP 400)."""

    code = "ceiling_exceeded"


# What the ledger decides against an account's books, as opposed to bad input: the
# outcome of a valid request, which a retry with the same idempotency key answers again.
BOOKS_REFUSALS = (SpendRefused, PaymentCeilingReached)
