"""The one base class for refusals of business rules.

Services raise these with a sentence a person can act on; admin, portal, API and
commands show `detail` as it is. `code` is the stable machine name (the `error`
field of the API's error body), `field` names the input to blame when there is one.
"""


class DomainError(Exception):
    code = "invalid"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code

    def __str__(self):
        return self.detail


class InvalidInput(DomainError):
    """The request itself is wrong (a bad amount, an unknown currency): HTTP 400."""

    code = "invalid"


class NotFound(DomainError):
    code = "not_found"


class InvalidTransition(DomainError):
    """The object's state does not allow the action: HTTP 409."""

    code = "invalid_transition"


class IdempotencyConflict(DomainError):
    """The idempotency key was used before for a different request: HTTP 409."""

    code = "idempotency_conflict"


class PermissionRefused(DomainError):
    """The acting user lacks the permission for this action: HTTP 403.

    Services re-check permissions themselves, so a UI path that forgot to (such as a
    generic admin button) still cannot act beyond the user's rights.
    """

    code = "permission_denied"


def require_perm(user, perm: str, action: str) -> None:
    """Refuse unless `user` (when one acts; None = the system itself) has `perm`."""
    if user is not None and not user.has_perm(perm):
        raise PermissionRefused(f"You do not have permission to {action}.")
