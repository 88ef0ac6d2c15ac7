"""Invoice PDF rendering: our code path against bare WeasyPrint on the same HTML.

    DATABASE_URL=postgres://… .venv/bin/python bench/pdf.py [--n 30] [--out /tmp/invoice.pdf]

Builds one realistic one-page invoice (ten lines of usage, six-decimal amounts) in a
throw-away database `billing_bench_pdf` on DATABASE_URL's PostgreSQL server (created,
then dropped at the end) through the real services, then times N renders of each,
interleaved, after a warm-up:

  ours  invoice_pdf_html(invoice) + invoicing.pdf.render_pdf(html): the template, the
        queries, and WeasyPrint with the process's shared font configuration (the cache
        is bypassed, so every run renders);
  bare with one FontConfiguration reused: bare WeasyPrint on the same HTML with the
        same font reuse as ours, so ours/that is what our own code adds (template,
        queries, formatting) on top of the same WeasyPrint work: the like-for-like
        figure, and the one the target (≤ 1.1) applies to;
  bare  weasyprint.HTML(string=html).write_pdf() on the same HTML, building the font
        configuration for every PDF as WeasyPrint does by default (ours does not, so
        ours/bare flatters ours; shown for reference).

Prints the median wall-clock milliseconds of each (and CPU milliseconds, steadier on a
busy machine) and the ratios of the wall-clock medians, like for like first.
"""

import argparse
import io
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "billing_bench_pdf"
TARGET = 1.1

sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "billing_site.settings.local"
if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("bench/pdf.py needs DATABASE_URL=postgres://… (make bench sets it)")
SERVER_URL = urlsplit(os.environ["DATABASE_URL"])
os.environ["DATABASE_URL"] = urlunsplit(SERVER_URL._replace(path=f"/{DB_NAME}"))
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django
import psycopg
from psycopg import sql


def _scratch_database(*, create: bool) -> None:
    """Drop the bench's database if it is there, and create it afresh when asked."""
    admin = urlunsplit(SERVER_URL._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB_NAME)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))


# (description, unit amounts): each unit amount is one ledger entry of kind usage.
USAGE = [
    ("Cloud VM s-2vcpu-4gb, eu-west (instance hours)", ["0.029861"] * 24),
    ("Cloud VM s-4vcpu-8gb, eu-west (instance hours)", ["0.059722"] * 18),
    ("Block storage, SSD (GB-months)", ["0.100000", "0.100000", "0.083871"]),
    ("Object storage (GB-months)", ["0.020000", "0.021337", "0.019254"]),
    ("Outbound traffic over the free tier (GB)", ["0.009000", "0.009000", "0.008713"]),
    ("Managed PostgreSQL, db-small (hours)", ["0.020833"] * 20),
    ("Load balancer (hours)", ["0.016667"] * 12),
    ("SMS to United Kingdom", ["0.039500"] * 15),
    ("Voice minutes, outbound UK mobile", ["0.012345", "0.023456", "0.034567"]),
    ("Snapshots (GB-months)", ["0.050000", "0.047419"]),
]


def build_invoice():
    from django.core.management import call_command

    from accounts.services import account_create
    from invoicing.models import Invoice
    from invoicing.services import invoicing_run_month
    from ledger.models import EntryKind
    from ledger.services import ledger_charge

    call_command("migrate", verbosity=0)
    account = account_create(
        name="Fabrikam Hosting GmbH",
        email="accounts@fabrikam.example",
        currency="EUR",
        payment_mode="credit_limit",
        credit_limit="5000",
    )
    n = 0
    for description, amounts in USAGE:
        for amount in amounts:
            n += 1
            ledger_charge(
                account_id=account.pk,
                amount=amount,
                kind=EntryKind.USAGE,
                description=description,
                idempotency_key=f"bench-{n}",
            )
    today = date.today()
    next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    # The run bills only months that have ended: run it on its billing day, as beat does.
    import time_machine

    billing_day = datetime.combine(next_month, datetime.min.time(), tzinfo=UTC)
    with time_machine.travel(billing_day + timedelta(minutes=5)):
        invoicing_run_month(run_date=next_month)
    return Invoice.objects.select_related("account__client").get(account=account)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="timed renders of each (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed renders of each first")
    parser.add_argument("--out", type=Path, help="also write the invoice's PDF here")
    args = parser.parse_args()

    _scratch_database(create=True)
    django.setup()
    import weasyprint
    from pypdf import PdfReader
    from weasyprint.text.fonts import FontConfiguration

    from invoicing.pdf import invoice_pdf_html, render_pdf

    invoice = build_invoice()
    html = invoice_pdf_html(invoice)

    def ours() -> bytes:
        return render_pdf(invoice_pdf_html(invoice))

    def bare() -> bytes:
        return weasyprint.HTML(string=html).write_pdf()

    fonts = FontConfiguration()  # its own, so it shares no cache with ours

    def bare_fonts() -> bytes:
        return weasyprint.HTML(string=html).write_pdf(font_config=fonts)

    sample = ours()
    pages = len(PdfReader(io.BytesIO(sample)).pages)
    if args.out:
        args.out.write_bytes(sample)
    runs = {"ours": ours, "bare": bare, "bare_fonts": bare_fonts}
    for _ in range(args.warmup):
        for run in runs.values():
            run()

    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(args.n):
        # Rotate which goes first, so none always runs right after another's warm caches.
        names = list(runs)
        for name in names[i % 3 :] + names[: i % 3]:
            run = runs[name]
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append((time.process_time() - start_cpu) * 1000)

    ms = {name: statistics.median(wall[name]) for name in runs}
    cpu_ms = {name: statistics.median(cpu[name]) for name in runs}
    like_for_like = ms["ours"] / ms["bare_fonts"]
    print(
        f"invoice {invoice.number}: {invoice.lines.count()} lines, {pages} page(s), "
        f"{len(sample):,} bytes; WeasyPrint {weasyprint.__version__}; n={args.n}"
    )
    labels = {
        "ours": "ours (invoice_pdf_html + render_pdf)",
        "bare_fonts": "bare, one FontConfiguration reused",
        "bare": "bare, fonts built per PDF (default)",
    }
    for name, label in labels.items():
        print(f"{label:38} median {ms[name]:6.1f} ms (CPU {cpu_ms[name]:5.1f} ms)")
    verdict = "ok" if like_for_like <= TARGET else "OVER TARGET"
    print(
        f"ours / bare with the same font reuse: {like_for_like:.3f} (target ≤ {TARGET}) "
        f"{verdict}: like for like, what the template, queries and formatting add"
    )
    print(
        f"ours / bare building its fonts per PDF: {ms['ours'] / ms['bare']:.3f} "
        "(for reference: ours reuses one FontConfiguration per process, bare does not)"
    )
    from django.db import connections

    connections.close_all()
    _scratch_database(create=False)


if __name__ == "__main__":
    main()
