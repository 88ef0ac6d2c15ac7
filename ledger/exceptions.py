from billing_site.exceptions import DomainError


class SpendRefused(DomainError):
    """The payment mode does not allow this spend (HTTP 402)."""


class InsufficientFunds(SpendRefused):
    code = "insufficient_funds"


class CreditBlocked(SpendRefused):
    code = "credit_blocked"
