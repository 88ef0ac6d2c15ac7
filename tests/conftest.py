"""The suite runs on PostgreSQL only, the engine production runs: row locks, triggers,
COPY and real concurrency are tested everywhere, never skipped."""

from django.conf import settings


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise SystemExit(f"The tests run on PostgreSQL only; DATABASE_URL names {engine}.")
