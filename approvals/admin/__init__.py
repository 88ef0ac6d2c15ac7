"""The manual operations queue, its history and the system settings in the admin."""

from . import operations, system_settings  # noqa: F401  (registers the admins)
