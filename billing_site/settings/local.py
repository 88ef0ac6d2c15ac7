"""A developer's machine: `make run` and `manage.py` default to this."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# The demo pays through the test gateway (it settles at once, with no real money).
PAYMENT_TEST_GATEWAY = env.bool("PAYMENT_TEST_GATEWAY", default=True)
