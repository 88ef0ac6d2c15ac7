"""Work after a commit that can never turn the committed change into an error.

By the time an `on_commit` callback runs, the change is in the database: a broker that
cannot take a task, or a file that cannot be deleted, must not answer the caller with an
error (a client would retry a payment that was booked). The work itself is never lost
either: whatever must happen is written down in the transaction (the notifications
outbox, an invoice's stale PDF version) and picked up by beat's sweepers or on demand;
the callback only makes it happen sooner. A failure is logged as a warning with the ids
it concerned and who picks the work up.
"""

import logging
import time
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# Failures of the broker or the file system: expected in an outage, logged without a
# traceback. Anything else is a bug and keeps its traceback.
OUTAGES = (OperationalError, OSError)


def run_after_commit(func: Callable[[], object], *, what: str, recovery: str) -> None:
    """Call `func` once the current transaction commits; if it fails, log a warning
    naming `what` failed and the `recovery` that will do it instead."""
    transaction.on_commit(lambda: _run(func, what=what, recovery=recovery))


class BrokerPaused(OperationalError):
    """Not even tried: publishing to this broker failed moments ago."""


# After a publish fails, this process leaves that broker alone for a while: the work
# waits for the sweepers either way, and every request need not wait for a timeout.
BROKER_PAUSE_SECONDS = 30
_paused_until: dict[str, float] = {}


def queue_after_commit(task, *args, recovery: str) -> None:
    """`task.delay(*args)` once the current transaction commits, never raising."""
    run_after_commit(
        lambda: _publish(task, args),
        what=f"queueing {task.name}{_call_args(args)}",
        recovery=recovery,
    )


def _publish(task, args: tuple) -> None:
    conf = task.app.conf
    broker = "" if conf.task_always_eager else str(conf.broker_url)
    if broker and time.monotonic() < _paused_until.get(broker, 0):
        raise BrokerPaused("the broker failed moments ago; not tried again yet")
    try:
        task.delay(*args)
    except OperationalError:
        if broker:
            _paused_until[broker] = time.monotonic() + BROKER_PAUSE_SECONDS
        raise
    _paused_until.pop(broker, None)


def _run(func: Callable[[], object], *, what: str, recovery: str) -> None:
    try:
        func()
    except Exception as exc:  # the commit is done: log, never raise
        logger.warning(
            "After commit, %s failed (%s: %s); %s.",
            what,
            type(exc).__name__,
            exc,
            recovery,
            exc_info=not isinstance(exc, OUTAGES),
        )


def _call_args(args: tuple) -> str:
    return "(" + ", ".join(repr(a) for a in args) + ")"
