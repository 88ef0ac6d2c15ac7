#!/usr/bin/env python
"""Hot account: many threads charging ONE account, by three paths, and no overdraw.

Every spend on an account is decided under that account's row lock, so a single busy
account is the worst case: its charges are serialised. This measures, at 16 and 64
threads, how close `ledger.services.ledger_charge` comes to the fastest correct thing
PostgreSQL can do (one guarded UPDATE + INSERT statement per charge, autocommit), by
the two paths callers take:

  service   `ledger_charge` outside a transaction, as the admin calls it: the spend is
            decided, booked and committed in one statement;
  api       `ledger_charge` inside the transaction `api.idempotency.idempotent` opens
            for POST accounts/{id}/charges/, which also stores the idempotency record
            and renders the answer before it commits: the lock is held until then;
  baseline  the one guarded statement on a plain psycopg connection;

and checks that none of them ever overdraws.

    .venv/bin/python bench/hot_account.py              # 5 s per run
    .venv/bin/python bench/hot_account.py --quick      # 1 s per run, a smoke test
    DATABASE_URL=postgres://user@host:5432/db .venv/bin/python bench/hot_account.py

See bench/README.md for what is measured and the targets.
"""

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billing_bench"
AMOUNT = Decimal("0.010000")
# Large enough that no timed run can exhaust it: the timed runs measure speed, not refusals.
BIG_LIMIT = Decimal("1000000")
# The overdraw check: a small limit that the threads race to exhaust.
SMALL_LIMIT = Decimal("10.000000")
SMALL_AMOUNT = Decimal("0.070000")
TARGET_SERVICE_VS_BASELINE = 0.5
TARGET_SCALING = 0.8

BASELINE_SQL = """
WITH b AS (
    UPDATE ledger_balance
       SET balance = balance - %(amount)s,
           unbilled = unbilled - %(amount)s,
           entry_count = entry_count + 1,
           updated_at = now()
     WHERE account_id = %(account)s
       AND balance - reserved - %(amount)s >= -%(limit)s
 RETURNING account_id, billed_until
)
INSERT INTO ledger_entry (account_id, amount, kind, description, idempotency_key,
                          period_start, period_end, reservation_id, created_at, bill_at,
                          created_by_id)
SELECT account_id, -%(amount)s, 'charge', '', %(key)s, NULL, NULL, NULL, now(),
       GREATEST(now(), billed_until), NULL FROM b
RETURNING id
"""


# -- setup ------------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed run")
    parser.add_argument("--quick", action="store_true", help="1 s runs: a smoke test")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per figure; the median-rate run is shown"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run the service once more per thread count, timing each phase of a charge",
    )
    parser.add_argument(
        "--threads", default="16,64", help="comma-separated thread counts (default 16,64)"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 1.0
    args.threads = [int(n) for n in args.threads.split(",")]
    return args


def ensure_database(url: str) -> None:
    """Create the benchmark database if it is missing, via the server's `postgres` db."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.local")
    # DEBUG keeps every query in memory and slows each one down; production runs without.
    os.environ.setdefault("DEBUG", "false")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def new_account(limit: Decimal) -> int:
    from accounts.services import account_create

    account = account_create(
        name=f"Bench {time.time_ns()}",
        email="bench@example.com",
        currency="USD",
        payment_mode="credit_limit",
        credit_limit=limit,
    )
    return account.pk


def books(account_id: int):
    """(balance row, Σ entries, entry_count, number of entries) for one account."""
    from django.db.models import Count, Sum

    from ledger.models import Balance, Entry

    row = Balance.objects.get(account_id=account_id)
    sums = Entry.objects.filter(account_id=account_id).aggregate(total=Sum("amount"), n=Count("id"))
    return row.balance, sums["total"] or Decimal(0), row.entry_count, sums["n"]


# -- the two ways to charge -----------------------------------------------------------


class ServiceCharger:
    """`ledger_charge` outside a transaction, as the admin's charge form calls it."""

    name = "service"

    def __init__(self, url, account_id, limit, profile=None):
        self.account_id = account_id
        self.profile = profile
        self.wrapper = None
        self.statements = []

    def open(self):
        from django.db import connection

        connection.ensure_connection()
        if self.profile is not None:
            self.wrapper = connection.execute_wrapper(self._time_statement)
            self.wrapper.__enter__()
            # COMMIT does not go through a cursor: time it on this thread's connection.
            commit = connection.commit

            def timed_commit():
                start = time.perf_counter()
                try:
                    return commit()
                finally:
                    self.statements.append(("COMMIT", False, start, time.perf_counter()))

            connection.commit = timed_commit

    def _time_statement(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((sql.split()[0], " FOR " in sql, start, time.perf_counter()))

    def charge(self, key: str, amount: Decimal) -> bool:
        from ledger.exceptions import SpendRefused
        from ledger.services import ledger_charge

        self.statements.clear()
        start = time.perf_counter()
        try:
            ledger_charge(account_id=self.account_id, amount=amount, idempotency_key=key)
        except SpendRefused:
            return False
        finally:
            if self.profile is not None:
                self.profile.add(start, time.perf_counter(), self.statements)
        return True

    def close(self):
        from django.db import connection

        if self.wrapper is not None:
            self.wrapper.__exit__(None, None, None)
        connection.close()


class ApiPathCharger:
    """`ledger_charge` as POST accounts/{id}/charges/ runs it: `api.idempotency.idempotent`
    (the key looked up, then one transaction holding the charge, the rendered answer and
    the idempotency record) with the view's own answer. Without URL routing,
    authentication and the JSON rendering of the response, which come before and after
    the transaction and hold no lock."""

    name = "api"

    def __init__(self, url, account_id, limit, profile=None):
        self.account_id = account_id
        self.path = f"/api/v1/accounts/{account_id}/charges/"

    def open(self):
        from django.db import connection

        from api.selectors import accounts_visible_to

        connection.ensure_connection()
        self.user = bench_user()
        self.account = accounts_visible_to(self.user).get(pk=self.account_id)

    def charge(self, key: str, amount: Decimal) -> bool:
        import json

        from django.test import RequestFactory
        from rest_framework.parsers import JSONParser
        from rest_framework.request import Request

        from api.idempotency import idempotent
        from api.views.ledger import _entry_answer
        from ledger.services import ledger_charge

        body = json.dumps({"amount": str(amount)})
        raw = RequestFactory().post(
            self.path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )
        request = Request(raw, parsers=[JSONParser()])
        request.user = self.user

        def respond(ledger_key):
            booking = ledger_charge(
                account_id=self.account_id,
                amount=Decimal(request.data["amount"]),
                idempotency_key=ledger_key,
                created_by=self.user,
            )
            return _entry_answer(booking, self.account)

        return idempotent(request, required=True, respond=respond).status_code == 201

    def close(self):
        from django.db import connection

        connection.close()


def bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username="hot-account-bench")[0]


class Profile:
    """Where a service charge's time goes: before the lock, waiting for it, holding it."""

    PHASES = ("before lock", "lock wait", "held", "INSERT", "UPDATE", "COMMIT", "Python")

    def __init__(self):
        self.lock = threading.Lock()
        self.totals = dict.fromkeys(self.PHASES, 0.0)
        self.count = 0
        self.elapsed = 0.0

    def add(self, start, end, statements):
        locks = [s for s in statements if s[1]]
        if not locks:
            return
        _, _, lock_start, lock_end = locks[0]
        phases = {
            "before lock": lock_start - start,
            "lock wait": lock_end - lock_start,
            "held": end - lock_end,
        }
        for verb in ("INSERT", "UPDATE", "COMMIT"):
            phases[verb] = sum(e - s for v, _, s, e in statements if v == verb and s >= lock_end)
        # What is left of the held time: Python between the round trips, GIL waits included.
        phases["Python"] = phases["held"] - phases["INSERT"] - phases["UPDATE"] - phases["COMMIT"]
        with self.lock:
            self.count += 1
            for phase, seconds in phases.items():
                self.totals[phase] += seconds

    def line(self):
        means = {p: self.totals[p] / self.count * 1000 for p in self.PHASES}
        # Share of the run during which some transaction held the account's lock; the
        # rest is hand-over: the next waiter being woken and its thread getting the GIL.
        held_share = self.totals["held"] / self.elapsed if self.elapsed else float("nan")
        phases = " | ".join(f"{p} {means[p]:.2f}" for p in self.PHASES)
        return f"{self.count / self.elapsed:.0f}/s, lock held {held_share:.0%} | {phases}"


class BaselineCharger:
    """One guarded UPDATE…INSERT statement per charge on its own autocommit connection."""

    name = "baseline"

    def __init__(self, url, account_id, limit, profile=None):
        self.url, self.account_id, self.limit = url, account_id, limit
        self.conn = None

    def open(self):
        import psycopg

        self.conn = psycopg.connect(self.url, autocommit=True)

    def charge(self, key: str, amount: Decimal) -> bool:
        params = {"amount": amount, "account": self.account_id, "limit": self.limit, "key": key}
        return self.conn.execute(BASELINE_SQL, params).fetchone() is not None

    def close(self):
        if self.conn is not None:
            self.conn.close()


IMPLS = (ServiceCharger, ApiPathCharger, BaselineCharger)
PATHS = {
    "service": "ledger_charge outside a transaction (the admin's path): one autocommit "
    "statement decides, books and commits",
    "api": "ledger_charge inside api.idempotency.idempotent's transaction with the "
    "idempotency record (POST accounts/{id}/charges/): the lock is held until its COMMIT",
    "baseline": "one guarded UPDATE…INSERT autocommit statement on a psycopg connection",
}


# -- runs -------------------------------------------------------------------------------


@dataclass
class Run:
    impl: str
    threads: int
    elapsed: float = 0.0
    accepted: int = 0
    refused: int = 0
    latencies: list = field(default_factory=list)
    overdraws: int = 0
    note: str = ""

    @property
    def rate(self):
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def percentile(self, q):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_threads(
    charger_cls, url, account_id, limit, threads, *, seconds=None, amount=AMOUNT, profile=None
):
    """Charge one account from `threads` threads, for `seconds` or until refused."""
    run = Run(charger_cls.name, threads)
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    lock = threading.Lock()
    errors = []
    deadline = [0.0]
    prefix = f"{charger_cls.name}-{threads}-{time.time_ns()}"

    def worker(n):
        charger = charger_cls(url, account_id, limit, profile)
        latencies, accepted, refused = [], 0, 0
        try:
            charger.open()  # connect before the clock starts
            ready.wait()
            go.wait()
            i = 0
            while seconds is None or time.perf_counter() < deadline[0]:
                start = time.perf_counter()
                ok = charger.charge(f"{prefix}-{n}-{i}", amount)
                latencies.append(time.perf_counter() - start)
                i += 1
                if ok:
                    accepted += 1
                else:
                    refused += 1
                    if seconds is None:
                        break
        except BaseException as exc:
            errors.append(exc)
            ready.abort()
        finally:
            charger.close()
            with lock:
                run.latencies.extend(latencies)
                run.accepted += accepted
                run.refused += refused

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    deadline[0] = started + (seconds or 0)
    go.set()
    for thread in workers:
        thread.join()
    run.elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    balance, total, entry_count, entries = books(account_id)
    problems = []
    if balance < -limit:
        problems.append(f"balance {balance} below -{limit}")
    if balance != total or entry_count != entries:
        problems.append(f"balance row {balance}/{entry_count} != entries {total}/{entries}")
    run.overdraws = len(problems)
    run.note = "; ".join(problems)
    return run


def queries_per_charge(charger_cls):
    """The statements one charge by this path sends, to see where its round trips go."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account_id = new_account(BIG_LIMIT)
    charger = charger_cls(None, account_id, BIG_LIMIT)
    charger.open()
    charger.charge("warm-up", AMOUNT)
    with CaptureQueriesContext(connection) as captured:
        charger.charge("counted", AMOUNT)
    return [_describe(q["sql"]) for q in captured.captured_queries]


def _describe(sql):
    words = sql.replace('"', " ").split()
    if words[0] == "WITH":  # the one-statement spend: name what it writes
        return "WITH … UPDATE ledger_balance … INSERT ledger_entry FOR NO KEY UPDATE"
    tables = [w for w in words if w.startswith(("ledger_", "accounts_", "invoicing_", "api_"))]
    lock = " FOR NO KEY UPDATE" if "NO KEY UPDATE" in sql else ""
    return " ".join([words[0], *tables[:1]]) + lock


# -- report -----------------------------------------------------------------------------


def main():
    args = parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("hot_account needs PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database(url)
    setup_django(url)
    from django.db import connection

    server = connection.cursor().connection.info.parameter_status("server_version")
    print(
        f"hot account: every thread charges ONE credit-limit account {AMOUNT} at a time, "
        f"{args.seconds:g} s per run, median of {args.repeat}"
    )
    print(
        f"PostgreSQL {server}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"database {urlsplit(url).path.lstrip('/')}"
    )
    print()
    print("paths (each thread charges by one of them):")
    for name, what in PATHS.items():
        print(f"  {name:<9}{what}")
    for impl in IMPLS[:2]:
        statements = queries_per_charge(impl)
        print(f"one {impl.name} charge sends: {' / '.join(statements)}")
    print()

    # Interleaved, so that a burst of load from elsewhere on the machine hits both sides;
    # with --repeat N each figure comes from the run with the median rate.
    trials = {}
    for _ in range(args.repeat):
        for threads in args.threads:
            for impl in IMPLS:
                run = run_threads(
                    impl, url, new_account(BIG_LIMIT), BIG_LIMIT, threads, seconds=args.seconds
                )
                trials.setdefault((impl.name, threads), []).append(run)
    runs = {}
    for impl in (impl.name for impl in IMPLS):
        for threads in args.threads:
            ordered = sorted(trials[impl, threads], key=lambda run: run.rate)
            runs[impl, threads] = ordered[len(ordered) // 2]
            runs[impl, threads].overdraws = sum(run.overdraws for run in ordered)
            runs[impl, threads].note = "; ".join(run.note for run in ordered if run.note)

    header = f"{'impl':<9}{'threads':>8}{'charges/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
    header += f"{'charges':>9}{'refused':>9}{'overdraws':>10}"
    print(header)
    print("-" * len(header))
    for run in runs.values():
        print(
            f"{run.impl:<9}{run.threads:>8}{run.rate:>11.1f}{run.percentile(0.50):>9.2f}"
            f"{run.percentile(0.99):>9.2f}{run.accepted:>9}{run.refused:>9}{run.overdraws:>10}"
            + (f"  {run.note}" if run.note else "")
        )
    print()

    capacity = int(SMALL_LIMIT // SMALL_AMOUNT)
    print(
        f"overdraw check: limit {SMALL_LIMIT}, charges of {SMALL_AMOUNT} until refused, "
        f"capacity {capacity}"
    )
    small_failures = 0
    for impl in IMPLS:
        for threads in args.threads:
            account_id = new_account(SMALL_LIMIT)
            run = run_threads(impl, url, account_id, SMALL_LIMIT, threads, amount=SMALL_AMOUNT)
            over = max(0, run.accepted - capacity) + run.overdraws
            short = capacity - run.accepted if run.accepted < capacity else 0
            small_failures += over + short
            balance = books(account_id)[0]
            print(
                f"  {impl.name:<9}{threads:>3} threads: accepted {run.accepted}, "
                f"balance {balance}, overdraws {over}"
                + (f", {short} refused too early" if short else "")
                + (f"  {run.note}" if run.note else "")
            )
    print()

    def ratio(a, b):
        return runs[a].rate / runs[b].rate if runs[b].rate else float("nan")

    lo, hi = (16, 64) if {16, 64} <= set(args.threads) else (min(args.threads), max(args.threads))
    checks = [
        (f"service / baseline at {lo} threads", ratio(("service", lo), ("baseline", lo)),
         TARGET_SERVICE_VS_BASELINE, "outside a transaction: the admin's path"),
        (f"api / baseline at {lo} threads", ratio(("api", lo), ("baseline", lo)),
         TARGET_SERVICE_VS_BASELINE, "in the API's transaction: what API callers get"),
        (f"service {hi} / {lo} threads", ratio(("service", hi), ("service", lo)),
         TARGET_SCALING, ""),
        (f"api {hi} / {lo} threads", ratio(("api", hi), ("api", lo)), TARGET_SCALING, ""),
        (f"baseline {hi} / {lo} threads", ratio(("baseline", hi), ("baseline", lo)), None, ""),
    ]  # fmt: skip
    for label, value, target, path in checks:
        verdict = "" if target is None else f"  (target >= {target}: "
        if target is not None:
            verdict += "met)" if value >= target else "NOT met)"
        print(f"{label:<32}{value:>6.2f}{verdict}{f'  {path}' if path else ''}")
    if args.profile:
        print()
        print("service charge, mean ms per phase (timed with an execute wrapper):")
        for threads in args.threads:
            profile = Profile()
            run = run_threads(
                ServiceCharger, url, new_account(BIG_LIMIT), BIG_LIMIT, threads,
                seconds=args.seconds, profile=profile,
            )  # fmt: skip
            profile.elapsed = run.elapsed
            print(f"  {threads:>3} threads: {profile.line()}")
    overdraws = sum(run.overdraws for run in runs.values()) + small_failures
    print(f"{'overdraws, all runs':<32}{overdraws:>6}  (must be 0)")
    return 1 if overdraws else 0


if __name__ == "__main__":
    sys.exit(main())
