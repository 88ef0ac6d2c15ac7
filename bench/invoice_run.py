"""The monthly invoicing run at scale, against one raw-SQL aggregate of the same data.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_invoices \\
        .venv/bin/python bench/invoice_run.py [--accounts 100000] [--entries 1000000]
        [--chunk-size N] [--skip-generate] [--no-floor] [--cprofile N]

PostgreSQL only. The database named in DATABASE_URL (created if missing, migrated) holds
the pristine data set: ACCOUNTS accounts (45 % credit_limit, 45 % postpaid, 10 % prepaid
with funds; one credit account in twenty has paid ahead; USD, EUR, JPY and BHD) and
ENTRIES usage entries of six-decimal amounts spread over the month before RUN_DATE,
written set-based with INSERT … SELECT generate_series, with balance rows set to the
sums of the entries so `ledger_mismatches()` stays clean. --skip-generate reuses it.

Each run works on a fresh copy (`CREATE DATABASE <name>_run TEMPLATE <name>`), so the
pristine data is never billed and the bench can be repeated. On the copy it times:

  baseline  one `INSERT INTO scratch SELECT account_id, SUM(amount), COUNT(*) FROM
            ledger_entry WHERE kind IN (billable) AND created_at < boundary GROUP BY
            account_id`: what summing the month costs the database, nothing else;
  floor     the rows ours writes, by hand: one set-based INSERT … SELECT per table, no
            Python, rolled back (FLOOR below): what writing them costs the database;
  ours      `invoicing_run_month(run_date=RUN_DATE, chunk_size=...)`: invoices, lines,
            rounding entries, balance rows, logs, payments, outbox events, allocations.

It prints the times and ratios (targets: ours ≤ 60 s and ≤ 3 × baseline), checks the
result (one invoice per account with entries, Σ totals per currency equal to the
baseline's sums rounded half-up to the minor unit, every usage entry in exactly one
invoice's billing window, `invoice_mismatches()` and `ledger_mismatches()` empty; exit 1
otherwise), and shows where ours spends its time: each SQL statement of the run timed
through `connection.execute_wrapper`, grouped by what it does, the COPY of each model's
rows, plus the Python time between.
"""

import argparse
import cProfile
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/billing_bench_invoices"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.local")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# As in production: with DEBUG on, Django formats and keeps every statement it sends,
# which for a run of bulk inserts costs more than some of the inserts themselves.
os.environ.setdefault("DEBUG", "false")
# The run queues Celery tasks after each commit (PDF warming, notifications): publishing
# them is part of the run, delivering them is a worker's job, and a bench must not leave
# thousands of messages in the project's broker folder. An in-process broker keeps both.
os.environ["CELERY_BROKER_URL"] = "memory://"

import psycopg
from psycopg import sql

# Fixed, and in the past: the monthly run refuses a date after today.
RUN_DATE = date(2026, 11, 1)
PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
BOUNDARY = datetime(2026, 11, 1, tzinfo=UTC)
TARGET_SECONDS = 60
TARGET_RATIO = 3
CURRENCIES = {"USD": 2, "EUR": 2, "JPY": 0, "BHD": 3}  # checked against money.py below
BILLABLE = ("charge", "usage", "renewal", "adjustment", "rounding")


def server_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def admin_connection(url: str) -> psycopg.Connection:
    return psycopg.connect(server_url(url, "postgres"), autocommit=True)


def ensure_database(url: str, name: str) -> bool:
    """Create `name` if missing; True when it was created."""
    with admin_connection(url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return not exists


def copy_database(url: str, source: str, target: str) -> None:
    """A throw-away copy of the pristine data for one run (file copy: seconds, not minutes)."""
    with admin_connection(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            [[source, target]],
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )


# -- data ---------------------------------------------------------------------------

GENERATE = [
    (
        "clear",
        """TRUNCATE accounts_client, accounts_billingaccount, ledger_balance, ledger_entry,
           ledger_reservation, invoicing_invoice, invoicing_invoiceline,
           invoicing_payment, invoicing_paymentallocation,
           invoicing_invoicestatuschange, invoicing_invoiceseries,
           accounts_accountstatechange, accounts_paymentmodechange, accounts_clientuser
           RESTART IDENTITY CASCADE""",
    ),
    ("seed", "SELECT setseed(0.2026)"),
    (
        "clients",
        """INSERT INTO accounts_client (id, name, email, created_at)
           SELECT g, 'Bench client ' || g, 'billing' || g || '@bench.example', %(created)s
           FROM generate_series(1, %(accounts)s) g""",
    ),
    # g % 20: 0-1 prepaid, 2-10 credit_limit (2: paid ahead), 11-19 postpaid.
    (
        "accounts",
        """INSERT INTO accounts_billingaccount (id, client_id, currency, payment_mode,
               credit_limit, credit_limit_scope, payment_term_days, credit_status,
               postpaid_permission, credit_blocked_by_overdue, credit_block_reason,
               created_at)
           SELECT g, g,
               CASE g %% 10 WHEN 3 THEN 'EUR' WHEN 6 THEN 'JPY' WHEN 9 THEN 'BHD' ELSE 'USD' END,
               CASE WHEN g %% 20 < 2 THEN 'prepaid' WHEN g %% 20 < 11 THEN 'credit_limit'
                    ELSE 'postpaid' END,
               CASE WHEN g %% 20 BETWEEN 2 AND 10 THEN 100000 END,
               'total_debt', 14, 'active', 'not_requested', false, '', %(created)s
           FROM generate_series(1, %(accounts)s) g""",
    ),
    (
        "funds",
        """INSERT INTO ledger_entry (amount, kind, description, idempotency_key, created_at,
               bill_at, account_id)
           SELECT CASE WHEN g %% 20 < 2 THEN 100000 ELSE 50 END, 'payment',
                  'Payment received: bench', 'funds', %(period_start)s + interval '1 hour',
                  %(period_start)s + interval '1 hour', g
           FROM generate_series(1, %(accounts)s) g
           WHERE g %% 20 < 3""",
    ),
    (
        "usage",
        """INSERT INTO ledger_entry (amount, kind, description, idempotency_key, created_at,
               bill_at, account_id)
           SELECT amount, 'usage', description, key, booked, booked, account_id
           FROM (
               SELECT (-(1 + floor(random() * 4999999)) / 1000000)::numeric(20, 6) AS amount,
                      (ARRAY['Calls', 'SMS', 'Data'])[1 + g %% 3] AS description, 'u' || g AS key,
                      %(period_start)s + random() * (%(boundary)s - %(period_start)s) AS booked,
                      1 + g %% %(accounts)s AS account_id
               FROM generate_series(1, %(entries)s) g
           ) usage""",
    ),
    (
        "balances",
        """INSERT INTO ledger_balance (account_id, balance, unbilled, reserved, entry_count,
               updated_at)
           SELECT a.id, COALESCE(s.balance, 0), COALESCE(s.unbilled, 0), 0,
                  COALESCE(s.entries, 0), %(created)s
           FROM accounts_billingaccount a
           LEFT JOIN (
               SELECT account_id, SUM(amount) AS balance,
                      COALESCE(SUM(amount) FILTER (WHERE kind = ANY(%(billable)s)), 0)
                          AS unbilled,
                      COUNT(*) AS entries
               FROM ledger_entry GROUP BY account_id
           ) s ON s.account_id = a.id""",
    ),
    (
        "sequences",
        """SELECT setval(pg_get_serial_sequence('accounts_client', 'id'), %(accounts)s),
                  setval(pg_get_serial_sequence('accounts_billingaccount', 'id'), %(accounts)s)""",
    ),
]


def generate(connection, accounts: int, entries: int) -> None:
    params = {
        "accounts": accounts,
        "entries": entries,
        "created": PERIOD_START - timedelta(days=30),
        "period_start": PERIOD_START,
        "boundary": BOUNDARY,
        "billable": list(BILLABLE),
    }
    with connection.cursor() as cursor:
        for name, statement in GENERATE:
            started = time.perf_counter()
            cursor.execute(statement, params if "%(" in statement else None)
            print(f"  {name:<10} {time.perf_counter() - started:6.1f} s", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  {'vacuum':<10} {time.perf_counter() - started:6.1f} s", flush=True)


# -- timing -------------------------------------------------------------------------

BASELINE = """
    INSERT INTO bench_baseline (account_id, subtotal, entries)
    SELECT account_id, SUM(amount), COUNT(*)
    FROM ledger_entry
    WHERE kind = ANY(%s) AND created_at < %s
    GROUP BY account_id
"""


def baseline(connection) -> float:
    """Best of two runs of the aggregate, so both sides are timed on a warm cache."""
    best = None
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_baseline "
            "(account_id bigint PRIMARY KEY, subtotal numeric, entries bigint)"
        )
        for _ in range(2):
            cursor.execute("TRUNCATE bench_baseline")
            started = time.perf_counter()
            cursor.execute(BASELINE, [list(BILLABLE), BOUNDARY])
            took = time.perf_counter() - started
            best = took if best is None else min(best, took)
    return best


# What ours writes, by hand: one set-based statement per table, no Python, no chunks.
# Run in a transaction that is rolled back, so ours then starts from the same data. It
# is a floor for any implementation of the run that writes the rows the design asks for
# (lines, rounding entries, logs, payments, outbox events), not a target.
FLOOR = [
    (
        "lines aggregate",
        """CREATE TEMP TABLE floor_lines ON COMMIT DROP AS
           SELECT e.account_id, e.kind, e.description, COUNT(*) AS quantity,
                  SUM(e.amount) AS amount, MIN(e.id) AS first
           FROM ledger_entry e JOIN ledger_balance b ON b.account_id = e.account_id
           WHERE e.invoice_id IS NULL AND e.kind = ANY(%(billable)s) AND e.bill_at < %(boundary)s
             AND (b.billed_until IS NULL OR e.bill_at >= b.billed_until)
           GROUP BY e.account_id, e.kind, e.description""",
    ),
    (
        "invoices",
        """INSERT INTO invoicing_invoice (account_id, number, kind, status, currency,
               period_start, period_end, issued_on, due_date, bills_from, bills_until,
               subtotal, rounding, total, amount_paid, created_at, approved_at, pdf_file,
               pdf_version, erp_managed)
           SELECT t.account_id,
                  'INV-2026-' || lpad((row_number() OVER (ORDER BY t.account_id))::text, 6, '0'),
                  t.kind, CASE WHEN t.kind = 'statement' THEN 'paid' ELSE 'approved' END,
                  t.currency, %(period_start)s::date, %(period_end)s::date, %(run_date)s::date,
                  CASE WHEN t.kind = 'credit' THEN %(run_date)s::date + 14 END, NULL,
                  %(boundary)s, t.subtotal, -t.total - t.subtotal, t.total,
                  CASE WHEN t.kind = 'statement' THEN t.total ELSE 0 END, now(), now(), '', '',
                  false
           FROM (
               SELECT l.account_id, a.currency,
                      CASE a.payment_mode WHEN 'postpaid' THEN 'postpaid'
                           WHEN 'credit_limit' THEN 'credit' ELSE 'statement' END AS kind,
                      SUM(l.amount) AS subtotal,
                      -ROUND(SUM(l.amount), CASE a.currency WHEN 'JPY' THEN 0
                                                            WHEN 'BHD' THEN 3 ELSE 2 END) AS total
               FROM floor_lines l JOIN accounts_billingaccount a ON a.id = l.account_id
               GROUP BY l.account_id, a.currency, a.payment_mode
           ) t""",
    ),
    (
        "lines",
        """INSERT INTO invoicing_invoiceline (invoice_id, kind, description, quantity, amount)
           SELECT i.id, l.kind, l.description, l.quantity, l.amount
           FROM floor_lines l JOIN invoicing_invoice i ON i.account_id = l.account_id
           ORDER BY i.id, l.first""",
    ),
    (
        "rounding entries",
        """INSERT INTO ledger_entry (account_id, amount, kind, description, idempotency_key,
               invoice_id, created_at, bill_at)
           SELECT account_id, rounding, 'rounding', 'Rounding of invoice ' || number,
                  'invoice:' || number || ':rounding', id, now(), now()
           FROM invoicing_invoice WHERE rounding <> 0""",
    ),
    (
        "balance rows",
        """UPDATE ledger_balance b SET unbilled = b.unbilled - i.subtotal,
               balance = b.balance + i.rounding,
               entry_count = b.entry_count + CASE WHEN i.rounding <> 0 THEN 1 ELSE 0 END,
               billed_until = i.bills_until, updated_at = now()
           FROM invoicing_invoice i WHERE i.account_id = b.account_id""",
    ),
    (
        "status logs",
        """INSERT INTO invoicing_invoicestatuschange (invoice_id, from_status, to_status,
               changed_at, reason)
           SELECT id, '', 'closed', now(), 'Issued for October 2026.' FROM invoicing_invoice
           UNION ALL
           SELECT id, 'closed', status, now(), 'Approved.' FROM invoicing_invoice""",
    ),
    (
        "payments",
        """INSERT INTO invoicing_payment (invoice_id, status, due_date, created_at,
               external_currency, receipt_url, receipt_file)
           SELECT id, 'waiting_for_payment', due_date, now(), '', '', ''
           FROM invoicing_invoice WHERE status = 'approved'""",
    ),
    (
        "events",
        """INSERT INTO notifications_event (message_id, type, data, account_id, occurred_at)
           SELECT 'msg_' || md5(id::text), 'invoice.approved',
                  jsonb_build_object('id', id, 'number', number, 'account', account_id,
                      'kind', kind, 'status', status, 'period_start', period_start,
                      'period_end', period_end, 'issued_on', issued_on, 'due_date', due_date,
                      'currency', currency,
                      'subtotal',
                      jsonb_build_object('amount', subtotal::text, 'currency', currency),
                      'rounding',
                      jsonb_build_object('amount', rounding::text, 'currency', currency),
                      'total', jsonb_build_object('amount', total::text, 'currency', currency),
                      'amount_paid', jsonb_build_object('amount', '0', 'currency', currency),
                      'outstanding',
                      jsonb_build_object('amount', total::text, 'currency', currency),
                      'pdf_url', '/api/v1/invoices/' || id || '/pdf/'),
                  account_id, now()
           FROM invoicing_invoice WHERE status = 'approved'""",
    ),
]


def floor(connection) -> tuple[float, list[tuple[str, float]]]:
    """Time FLOOR in one transaction and roll it back."""
    from django.db import transaction

    params = {
        "billable": list(BILLABLE),
        "boundary": BOUNDARY,
        "period_start": PERIOD_START.date(),
        "period_end": (BOUNDARY - timedelta(days=1)).date(),
        "run_date": RUN_DATE,
    }
    steps = []
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for name, statement in FLOOR:
            step = time.perf_counter()
            cursor.execute(statement, params)
            steps.append((name, time.perf_counter() - step))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign-key checks
        steps.append(
            ("foreign-key checks", time.perf_counter() - sum(s for _, s in steps) - started)
        )
        took = time.perf_counter() - started
        transaction.set_rollback(True)
    return took, steps


_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)


def statement_kind(statement: str) -> str:
    """Group a statement by what it does: verb, first table, and the clause that matters."""
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    table = (_TABLE.search(text) or [None, "?"])[1]
    if verb == "INSERT" and "UNNEST(" in text.upper():
        verb = "INSERT (bulk_create)"
    elif verb == "INSERT" and " SELECT " in text.upper():
        verb = "INSERT…SELECT"
    notes = []
    if "FOR NO KEY UPDATE" in text or "FOR UPDATE" in text:
        notes.append("locking")
    if text.upper().startswith("SELECT DISTINCT"):
        notes.append("distinct")
    if "SUM(" in text.upper() and verb == "SELECT":
        notes.append("sum")
    if "CASE WHEN" in text:
        notes.append("bulk_update")
    return " ".join([verb, table, *(f"[{n}]" for n in notes)])


class StatementTimes:
    """`connection.execute_wrapper` that times every statement by `statement_kind`, and
    `watch_commits` for the COMMITs, which the wrapper does not see (deferred foreign-key
    checks run there)."""

    def __init__(self):
        self.by_kind = defaultdict(lambda: [0, 0.0])

    def watch_commits(self, connection) -> None:
        commit = connection._commit

        def timed_commit():
            started = time.perf_counter()
            try:
                return commit()
            finally:
                slot = self.by_kind["COMMIT (deferred foreign-key checks, WAL flush)"]
                slot[0] += 1
                slot[1] += time.perf_counter() - started

        connection._commit = timed_commit

    def __call__(self, execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            slot = self.by_kind[statement_kind(statement)]
            slot[0] += 1
            slot[1] += time.perf_counter() - started

    def report(self, total: float) -> list[str]:
        rows = sorted(self.by_kind.items(), key=lambda kv: kv[1][1], reverse=True)
        in_sql = sum(seconds for _, seconds in self.by_kind.values())
        lines = [f"  {'statements':>10} {'seconds':>8} {'share':>6}  what"]
        for kind, (count, seconds) in rows:
            lines.append(f"  {count:>10,} {seconds:8.2f} {seconds / total:6.1%}  {kind}")
        lines.append(
            f"  {'':>10} {total - in_sql:8.2f} {(total - in_sql) / total:6.1%}  "
            "Python between statements (ORM, object building, rounding)"
        )
        return lines


class PhaseTimes:
    """Wall time of chosen calls inside the run, their SQL and Python together.

    Patched for the run only; a name the code no longer has is skipped, so the bench
    keeps working while the services change.
    """

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)
        self._undo = []

    def wrap(self, owner, name: str, label) -> None:
        real = getattr(owner, name, None)
        if real is None:
            return

        def timed(*args, **kwargs):
            key = label(args) if callable(label) else label
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                self.calls[key] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, real))

    def restore(self) -> None:
        for owner, name, real in reversed(self._undo):
            setattr(owner, name, real)

    def report(self, total: float) -> list[str]:
        rows = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)
        return [
            f"  {self.calls[k]:>10,} {v:8.2f} {v / total:6.1%}  {k}"
            for k, v in rows
            if v >= 0.005 * total
        ]


def _modules_using(function) -> list:
    """The loaded modules that imported `function` by name."""
    return [
        m for m in list(sys.modules.values()) if getattr(m, function.__name__, None) is function
    ]


def watch_phases(phases: PhaseTimes) -> None:
    from django.db.models import QuerySet

    from invoicing.services import issue

    phases.wrap(QuerySet, "bulk_update", lambda a: f"QuerySet.bulk_update({a[0].model.__name__})")
    phases.wrap(QuerySet, "bulk_create", lambda a: f"QuerySet.bulk_create({a[0].model.__name__})")
    from billing_site import bulk

    # COPY goes around the execute wrapper: time it here, by model.
    real_insert = bulk.bulk_insert

    def label(args):
        return f"bulk_insert({type(args[0][0]).__name__})" if args[0] else "bulk_insert(empty)"

    for module in _modules_using(real_insert):
        phases.wrap(module, "bulk_insert", label)
    for module in _modules_using(bulk.insert_rows):
        phases.wrap(module, "insert_rows", lambda a: f"insert_rows({a[0].__name__})")
    for name in (
        "invoicing_accounts_due",
        "invoice_numbers_take",
        "allocate_money_many",
        "invoice_events_bulk",
        "warm_pdfs",
    ):
        phases.wrap(issue, name, f"issue.{name}")


# -- checks -------------------------------------------------------------------------


def check(connection, entries_billed: int) -> list[str]:
    from invoicing.selectors import invoice_mismatches
    from ledger.selectors import ledger_mismatches

    problems = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM bench_baseline")
        expected = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM invoicing_invoice")
        invoices = cursor.fetchone()[0]
        print(f"  invoices {invoices:,}, baseline rows {expected:,}")
        if invoices != expected:
            problems.append(f"{invoices} invoices for {expected} accounts with entries")
        cursor.execute(
            """SELECT a.currency, SUM(-ROUND(b.subtotal, CASE a.currency
                   WHEN 'JPY' THEN 0 WHEN 'BHD' THEN 3 ELSE 2 END)), SUM(b.subtotal)
               FROM bench_baseline b JOIN accounts_billingaccount a ON a.id = b.account_id
               GROUP BY a.currency ORDER BY a.currency"""
        )
        want = {cur: (total, subtotal) for cur, total, subtotal in cursor.fetchall()}
        cursor.execute(
            "SELECT currency, SUM(total), SUM(subtotal) FROM invoicing_invoice "
            "GROUP BY currency ORDER BY currency"
        )
        got = {cur: (total, subtotal) for cur, total, subtotal in cursor.fetchall()}
        for currency in sorted(set(want) | set(got)):
            w, g = want.get(currency), got.get(currency)
            ok = w == g
            print(
                f"  {currency}: Σ totals {g and g[0]} vs baseline rounded {w and w[0]}"
                f" {'ok' if ok else 'MISMATCH'}"
            )
            if not ok:
                problems.append(f"{currency}: ours {g}, baseline {w}")
        # Every usage entry in exactly one invoice's window: a gap leaves one out, an
        # overlap counts one twice.
        cursor.execute(
            """SELECT COUNT(*), COUNT(DISTINCT e.id) FROM ledger_entry e
               JOIN invoicing_invoice i ON i.account_id = e.account_id
                AND e.bill_at < i.bills_until
                AND (i.bills_from IS NULL OR e.bill_at >= i.bills_from)
               WHERE e.kind = 'usage' AND e.invoice_id IS NULL"""
        )
        billed, distinct = cursor.fetchone()
        print(
            f"  usage entries in an invoice's window {billed:,} ({distinct:,} distinct) "
            f"of {entries_billed:,}"
        )
        if not billed == distinct == entries_billed:
            problems.append(
                f"{billed} ({distinct} distinct) of {entries_billed} usage entries billed"
            )
    started = time.perf_counter()
    invoice_problems = [str(m) for m in invoice_mismatches()]
    ledger_problems = [str(m) for m in ledger_mismatches()]
    print(
        f"  invoice_mismatches() {len(invoice_problems)}, ledger_mismatches() "
        f"{len(ledger_problems)} ({time.perf_counter() - started:.1f} s)"
    )
    problems += invoice_problems[:10] + ledger_problems[:10]
    return problems


def revision() -> str:
    """The commit the bench ran on, marked dirty when the services have local changes."""
    import shutil
    import subprocess

    executable = shutil.which("git")
    if executable is None:
        return "unknown"

    def git(*args):
        # fixed arguments only
        done = subprocess.run(  # noqa: S603
            [executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "invoicing", "ledger", "notifications")
    return git("rev-parse", "--short", "HEAD") + (" (+ local changes)" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="default: the service's DEFAULT_CHUNK_SIZE"
    )
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip timing the hand-written SQL floor"
    )
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="profile ours, print the top N"
    )
    args = parser.parse_args()

    url = os.environ["DATABASE_URL"]
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must point at PostgreSQL")
    pristine = urlsplit(url).path.lstrip("/")
    scratch = f"{pristine}_run"
    created = ensure_database(url, pristine)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from billing_site.money import currency_places
    from invoicing.services import invoicing_run_month
    from invoicing.services.issue import DEFAULT_CHUNK_SIZE

    args.chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE

    assert all(currency_places(c) == p for c, p in CURRENCIES.items())
    call_command("migrate", verbosity=0)
    print(
        f"database {pristine}{' (created)' if created else ''}, run date {RUN_DATE}, "
        f"code {revision()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if not args.skip_generate:
        print(f"generating {args.accounts:,} accounts and {args.entries:,} usage entries")
        started = time.perf_counter()
        generate(connection, args.accounts, args.entries)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    connection.close()

    copy_database(url, pristine, scratch)
    connection.settings_dict["NAME"] = scratch
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts_billingaccount")
        accounts = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE kind = 'usage'), COUNT(*) FROM ledger_entry "
            "WHERE created_at < %s",
            [BOUNDARY],
        )
        usage, all_entries = cursor.fetchone()
    print(f"accounts {accounts:,}, entries {all_entries:,} ({usage:,} usage), copy {scratch}")

    base_seconds = baseline(connection)
    print(f"baseline (INSERT … SELECT … GROUP BY account_id): {base_seconds:.2f} s")
    if not args.no_floor:
        floor_seconds, steps = floor(connection)
        print(
            f"floor (ours' rows by hand, one set-based statement per table, rolled back): "
            f"{floor_seconds:.2f} s = {floor_seconds / base_seconds:.1f}x baseline"
        )
        print("  " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in steps))

    timer = StatementTimes()
    timer.watch_commits(connection)
    phases = PhaseTimes()
    watch_phases(phases)
    profiler = cProfile.Profile() if args.cprofile else None
    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        if profiler:
            profiler.enable()
        result = invoicing_run_month(run_date=RUN_DATE, chunk_size=args.chunk_size)
        if profiler:
            profiler.disable()
    ours = time.perf_counter() - started
    phases.restore()
    ratio = ours / base_seconds
    print(
        f"ours (invoicing_run_month, chunk size {args.chunk_size}): {ours:.2f} s, "
        f"{result.invoices:,} invoices, {result.skipped_negative_prepaid} skipped"
    )
    print(
        f"ratio ours/baseline: {ratio:.1f}x; targets: ours <= {TARGET_SECONDS} s "
        f"{'ok' if ours <= TARGET_SECONDS else 'MISSED'}, <= {TARGET_RATIO}x baseline "
        f"{'ok' if ratio <= TARGET_RATIO else 'MISSED'}"
    )
    print("where ours spends its time, by SQL statement:")
    print("\n".join(timer.report(ours)))
    print("and by call (wall time, its SQL included; nested calls overlap):")
    print("\n".join(phases.report(ours)))
    if profiler:
        print(f"cProfile (slows Python down; shares are what count), top {args.cprofile}:")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.cprofile)
        print(f"cProfile by cumulative time, top {args.cprofile}:")
        stats.sort_stats("cumulative").print_stats(args.cprofile)

    # Fresh statistics for the tables the run filled, as autovacuum would give them later:
    # with the empty-table statistics from before the run, PostgreSQL plans
    # invoice_mismatches()' per-invoice subquery as a scan of all ledger entries.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"ANALYZE after the run: {time.perf_counter() - started:.1f} s")

    print("checks:")
    problems = check(connection, usage)
    for problem in problems:
        print(f"  PROBLEM {problem}")
    print("correct" if not problems else "INCORRECT")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
