"""A mail backend that fails the way no SMTP error does, for the isolation tests."""

from django.core.mail.backends.base import BaseEmailBackend


class BrokenBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise RuntimeError("The relay exploded")
