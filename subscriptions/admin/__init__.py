"""The catalogue, subscriptions and payment requests in the operator control panel.

Plans and add-ons are edited here (a price change applies from the next period);
subscriptions and payment requests are read-only records whose state moves only through
the services, behind FSM buttons.
"""

from . import catalogue, payment_requests, subscriptions  # noqa: F401  (registers the admins)
