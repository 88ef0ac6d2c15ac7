from billing_site.exceptions import InvalidTransition, PermissionRefused

UNDER_REVIEW_MESSAGE = "Your account is under review for postpaid services; we will let you know."


class UnderReview(PermissionRefused):
    """A postpaid commercial order refused while the account's permission is not approved.

    Raised both while the account is under review and after a decline: the client is
    only ever told the account is under review (docs/design.md §5), so the detail never varies.
    """

    code = "under_review"

    def __init__(self, detail: str = UNDER_REVIEW_MESSAGE, **kwargs):
        super().__init__(detail, **kwargs)


class DecisionFinal(InvalidTransition):
    """The manual operation (or the account's permission) was already decided: HTTP 409."""

    code = "decision_final"
