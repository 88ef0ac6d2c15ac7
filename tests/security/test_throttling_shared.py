"""Two web processes count a username's failures together: the counts live in the shared
cache, never in a process. Each "process" here is a thread with its own cache client and
its own database connection, on one cache backend (the database's cache table, which any
machine running the tests has)."""

import threading

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from billing_site import throttling
from tests.factories import UserFactory

LOGIN = reverse("admin:login")
PASSWORD = "correct horse battery"
TABLE = "throttling_shared_cache_test"
SHARED = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": TABLE}}


@pytest.fixture
def shared_cache(transactional_db):
    with override_settings(CACHES=SHARED):
        call_command("createcachetable", verbosity=0)
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS "{TABLE}"')


class WebProcess:
    """A worker: its own thread, so its own cache client and database connection."""

    def __init__(self):
        # The clients themselves, not their id(): a finished thread's client may be freed
        # and its address reused by the next one.
        self.cache_clients = []

    def run(self, work):
        outcome = {}

        def target():
            try:
                self.cache_clients.append(caches["default"])
                outcome["value"] = work()
            except BaseException as error:
                outcome["error"] = error
            finally:
                connection.close()

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(timeout=60)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def login(self, username, password):
        def post():
            client = Client(REMOTE_ADDR="203.0.113.5")
            response = client.post(LOGIN, {"username": username, "password": password})
            return response.status_code, response.content.decode()

        return self.run(post)


def test_failures_in_two_processes_add_up_to_one_limit(shared_cache):
    UserFactory(username="billie", is_staff=True)
    first, second = WebProcess(), WebProcess()

    for _ in range(3):
        assert first.login("billie", "wrong")[0] == 200
    for _ in range(throttling.USERNAME_LIMIT - 3):
        assert second.login("billie", "wrong")[0] == 200
    status, page = first.login("billie", PASSWORD)

    # Two sets of clients, one cache.
    assert not any(a is b for a in first.cache_clients for b in second.cache_clients)
    assert status == 200
    assert "Too many failed attempts" in page


def test_a_success_in_one_process_clears_the_count_the_other_sees(shared_cache):
    UserFactory(username="billie", is_staff=True)
    first, second = WebProcess(), WebProcess()
    for _ in range(throttling.USERNAME_LIMIT - 1):
        first.login("billie", "wrong")
    assert second.login("billie", PASSWORD)[0] == 302
    for _ in range(throttling.USERNAME_LIMIT - 1):
        second.login("billie", "wrong")

    assert first.login("billie", PASSWORD)[0] == 302
