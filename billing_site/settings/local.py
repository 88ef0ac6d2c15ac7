"""A developer's machine: `make run` and `manage.py` default to this."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
