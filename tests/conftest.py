import pytest
from django.conf import settings

IS_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

requires_postgres = pytest.mark.skipif(
    not IS_POSTGRES,
    reason="needs PostgreSQL (row locks, triggers, real concurrency); "
    "set DATABASE_URL=postgres://... to run it",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(requires_postgres)
