"""One `seed_demo` data set for the whole crawl module, rolled back at its end."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase, override_settings

# The demo is built relative to today: pin a day that is no billing day, as
# tests/test_seed_demo.py does, so every run crawls the same data.
CRAWL_MOMENT = datetime(2026, 12, 9, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    """`seed_demo` once per module; every persona's test crawls this same data.

    The outer atomic block is rolled back at the end of the module, so nothing is left
    for other test modules; each test's own `django_db` transaction nests inside it.
    The on-commit callbacks run as a real commit would run them: notifications fill the
    outbox pages, and the invoice PDFs are warmed into their cache as production does
    (the test settings turn warming off for the rest of the suite).
    """
    with (
        django_db_blocker.unblock(),
        time_machine.travel(CRAWL_MOMENT),
        transaction.atomic(),
    ):
        with (
            override_settings(INVOICE_PDF_WARM_CACHE=True),
            TestCase.captureOnCommitCallbacks(execute=True),
        ):
            call_command("seed_demo", stdout=StringIO())
        yield
        transaction.set_rollback(True)
