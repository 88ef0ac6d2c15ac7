from billing_site.exceptions import InvalidInput, InvalidTransition


class PostpaidModeRequired(InvalidInput):
    """A prepaid account ordered a postpay plan: it must convert first (HTTP 400)."""

    code = "postpaid_mode_required"


class NotOrderable(InvalidInput):
    """The plan, trial or add-on cannot be ordered as asked (HTTP 400)."""

    code = "not_orderable"


class SubscriptionStateError(InvalidTransition):
    """The subscription's (or request's) state does not allow the action (HTTP 409)."""
