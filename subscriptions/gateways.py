"""Payment gateways behind one small interface.

A gateway is told about a new `PaymentRequest` (`start`) and answers with instructions
for the client, or None. It never books anything itself: the money is booked, and the
request's purpose fulfilled, by `payment_request_settle` when the gateway (or staff, for
a bank transfer) reports that the money arrived. A real card gateway would start a
checkout in `start` and call the settle service from its webhook.

The test gateway exists only where `settings.PAYMENT_TEST_GATEWAY` enables it (the demo
and the tests): elsewhere it is neither offered nor accepted, from anyone.
"""

from django.conf import settings

from billing_site.exceptions import InvalidInput
from billing_site.money import currency_places


class Gateway:
    name: str = ""
    label: str = ""
    # True: the money is there as soon as the request starts (no waiting state).
    settles_at_once: bool = False
    # True: staff confirm the money in the admin (`payment_request_confirm`).
    confirmed_by_staff: bool = False

    def start(self, request) -> str | None:
        """Begin collecting `request`; returns what the client should do, if anything."""
        raise NotImplementedError


class BankTransferGateway(Gateway):
    """The client transfers the money quoting the reference; staff confirm it arrived."""

    name = "bank_transfer"
    label = "Bank transfer"
    confirmed_by_staff = True

    # What happens once the money is confirmed, by the request's purpose.
    THEN = {
        "invoice": "The invoice is marked paid once the money is confirmed.",
        "top_up": "It is added to your balance once the money is confirmed.",
    }

    def start(self, request) -> str:
        then = self.THEN.get(request.purpose, "The change is made once the money is confirmed.")
        return (
            f"Transfer {request.amount:.{currency_places(request.currency)}f} "
            f"{request.currency} quoting the "
            f"reference {request.reference}. {then}"
        )


class TestGateway(Gateway):
    """Pays at once: for the demo data and the tests, never for real money.

    Using it is the same as confirming money received, so where it is enabled the
    services let only users who may confirm payments (or the system itself) choose it.
    """

    __test__ = False  # not a pytest test class
    name = "test"
    label = "Test gateway (pays at once)"
    settles_at_once = True

    def start(self, request) -> None:
        return None


BANK_TRANSFER = BankTransferGateway()
TEST = TestGateway()
# Every gateway the code knows, enabled or not: to name the gateway of a past request.
KNOWN: dict[str, Gateway] = {g.name: g for g in (BANK_TRANSFER, TEST)}


def enabled_gateways() -> dict[str, Gateway]:
    """The gateways money may be asked through here, by name."""
    enabled = [BANK_TRANSFER, TEST] if settings.PAYMENT_TEST_GATEWAY else [BANK_TRANSFER]
    return {g.name: g for g in enabled}


def get_gateway(name: str) -> Gateway:
    """The enabled gateway called `name`; anything else is refused, whoever asks."""
    enabled = enabled_gateways()
    try:
        return enabled[name]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"{name!r} is not a payment gateway; the gateways are {', '.join(enabled)}.",
            field="gateway",
        ) from None


def gateway_choices() -> list[tuple[str, str]]:
    return [(g.name, g.label) for g in enabled_gateways().values()]


def gateway_label(name: str) -> str:
    """How to show the gateway of a request, including one no longer enabled."""
    gateway = KNOWN.get(name)
    return gateway.label if gateway else name
