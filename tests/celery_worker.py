"""Celery for real in tests: a Redis broker of the suite's own, and workers that take
messages from it, so task arguments cross the broker as JSON and nothing runs eagerly.

Use with `django_db(transaction=True)`: a worker works on its own connection, which
sees only committed rows.

- `redis_broker()`: the app publishes to Redis db 12 (emptied first) instead of running
  tasks in-process;
- `thread_worker()`: a worker in a thread of the test process (Celery's own testing
  worker), which shares the test's clock, so `time_machine` travels for it too;
- `process_worker()`: `celery worker` started as a deployment starts it (prefork pool,
  the project's settings without the test overrides), in its own process group, on the
  test database; its pool process can be killed like an OOM kill would.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from kombu import pools

from billing_site.celery import app

# Redis db 12 unless TEST_REDIS_URL names another (the db is emptied before and after).
BROKER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
WAIT = 90  # seconds; the machine running the suite may be busy


def _reset_producers() -> None:
    """Drop the pooled broker connections, so the next publish uses `broker_url` (and
    not a pool a stopped worker closed: kombu keeps them in a registry by URL)."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def broker() -> redis.Redis:
    return redis.Redis.from_url(BROKER_URL)


@contextmanager
def redis_broker() -> Iterator[None]:
    """Publish every task to the test broker (emptied first); restore the app after."""
    names = ("broker_url", "broker_transport_options", "task_always_eager")
    saved = {name: app.conf[name] for name in names}
    broker().flushdb()
    app.conf.update(
        broker_url=BROKER_URL,
        broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        task_always_eager=False,
        worker_hijack_root_logger=False,
    )
    _reset_producers()
    try:
        with broker_env(BROKER_URL):
            yield
    finally:
        app.conf.update(saved)
        _reset_producers()
        broker().flushdb()


@contextmanager
def broker_env(url: str) -> Iterator[None]:
    """Celery reads CELERY_BROKER_URL from the environment before its own configuration
    (CI sets it), so a test that points the app at another broker points that too."""
    saved = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url
    try:
        yield
    finally:
        if saved is None:
            del os.environ["CELERY_BROKER_URL"]
        else:
            os.environ["CELERY_BROKER_URL"] = saved


def broker_idle() -> bool:
    """No message waiting and none taken but not yet acknowledged (tasks ack late)."""
    client = broker()
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.1)


def wait_until_idle(timeout: float = WAIT) -> None:
    """The broker idle for half a second on end: a message is briefly in neither list
    between the worker's pop and its unacked record."""
    seen = {"idle": 0}

    def settled():
        seen["idle"] = seen["idle"] + 1 if broker_idle() else 0
        return seen["idle"] >= 5

    wait_until(settled, "the worker to finish every task", timeout)


@contextmanager
def thread_worker() -> Iterator[list[tuple[str, tuple, dict]]]:
    """A real worker in a thread, on the test broker; yields the tasks it ran, in order,
    as (name, args, kwargs) the way they came out of the broker."""
    ran: list[tuple[str, tuple, dict]] = []

    def record(sender=None, args=None, kwargs=None, **_):
        if not getattr(sender.request, "is_eager", False):
            ran.append((sender.name, tuple(args or ()), dict(kwargs or {})))

    signals.task_prerun.connect(record, weak=False)
    try:
        with (
            redis_broker(),
            start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=WAIT),
        ):
            yield ran
            wait_until_idle()
    finally:
        signals.task_prerun.disconnect(record)
        connection.close()  # the worker's fixup may have closed it under us


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    host, port = db["HOST"], db["PORT"] or 5432
    if host.startswith("/"):  # a socket folder (the embedded server): django-environ's form
        return f"postgres://{auth}@:{port}/{host}/{db['NAME']}"
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class ProcessWorker:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pool_pids(self) -> list[int]:
        """The pool processes that run the tasks (children of the worker)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextmanager
def process_worker(log: Path, *, concurrency: int = 1) -> Iterator[ProcessWorker]:
    """`celery -A billing_site worker` (prefork) on the test database and broker.

    With the settings a deployment's worker has (base, through `local`), not the test
    settings, which run every task a task queues in-process: here each goes through the
    broker. E-mail stays in memory and PDFs are not pre-rendered.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_site.settings.local",
        "DEBUG": "false",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "INVOICE_PDF_WARM_CACHE": "false",
        "PRIVATE_MEDIA_ROOT": str(log.parent / "private"),
        "CELERY_SKIP_CHECKS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "billing_site",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--hostname=test-worker@%h",
    ]
    with redis_broker(), log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = ProcessWorker(process, log)
        try:
            wait_until(lambda: " ready." in worker.output(), "the worker to start")
            yield worker
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """Warm shutdown, then the whole process group killed if it does not go."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    # Pool processes left behind by a killed parent go with their group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def waiting_backends(table: str) -> list[int]:
    """PostgreSQL backends waiting for a lock on `table` (on another connection's lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [table]
        )
        return [pid for (pid,) in cursor.fetchall()]


def holds_lock(pid: int, table: str, mode: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE pid = %s AND relation = %s::regclass "
            "AND mode = %s AND granted",
            [pid, table, mode],
        )
        return cursor.fetchone() is not None
