"""Drive the production stage: only the HTTP API, the faked clock and beat's own schedule.

    drive.py set-clock "YYYY-MM-DD HH:MM:SS"   # move the services' wall clock (UTC)
    drive.py run                               # the scenario; exit 1 with one line on failure

The services run under libfaketime with FAKETIME_TIMESTAMP_FILE: the file holds an
offset in seconds from the real clock ("+NNN"), rewritten whole (write, then rename) to
jump. An offset rather than libfaketime's "@start" form keeps every process on the same
clock whenever it started or forked. Nothing here calls the product's services or
commands: it charges through the API, moves the clock, and waits for beat's daily
billing cycle to do the rest, then checks what the API, the webhook receiver and the
SMTP sink saw. Standard library only.
"""

import json
import os
import re
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from pathlib import Path

# Every wait is bounded; beat wakes at least every 5 s (DatabaseScheduler's loop).
WAIT_SECONDS = 60
DAILY_TASK = "Daily billing cycle"
EVENTS = [
    "invoice.approved",
    "payment.due_soon",
    "invoice.overdue",
    "invoice.paid",
    "credit.blocked",
    "credit.unblocked",
]


class StageFailure(Exception):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise StageFailure(message)


def set_clock(path: str, moment: datetime) -> None:
    """Point the faked clock at `moment` (aware): real time plus a whole-second offset."""
    offset = round(moment.timestamp() - time.time())
    partial = f"{path}.part"
    Path(partial).write_text(f"{offset:+d}\n")
    os.replace(partial, path)


def faked_now() -> float:
    """The services' clock: the real one plus the offset in the clock file."""
    offset = Path(os.environ["FAKETIME_TIMESTAMP_FILE"]).read_text().strip()
    return time.time() + int(offset)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def amount(money: dict | None) -> Decimal | None:
    return None if money is None else Decimal(money["amount"])


class Stage:
    def __init__(self, env):
        self.base = env["STAGE_BASE_URL"].rstrip("/")
        self.billing_key = env["STAGE_BILLING_KEY"]
        self.manager_key = env["STAGE_MANAGER_KEY"]
        self.hook_url = env["STAGE_WEBHOOK_URL"]
        self.hook_secret = env["STAGE_WEBHOOK_SECRET"]
        self.hook_records = Path(env["STAGE_WEBHOOK_RECORDS"])
        self.mail_dir = Path(env["STAGE_MAIL_DIR"])
        self.clock_file = env["FAKETIME_TIMESTAMP_FILE"]
        self.beat_log = Path(env["STAGE_BEAT_LOG"])
        self.worker_log = Path(env["STAGE_WORKER_LOG"])
        self.year = int(env.get("STAGE_YEAR", "2041"))
        self.started = time.monotonic()
        # Plain HTTP to 127.0.0.1, never through a proxy from the environment.
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- plumbing -----------------------------------------------------------------------

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {message}", flush=True)

    def request(self, method, path, *, key=None, body=None, idempotency_key=None, raw=False):
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Token {key}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = path if path.startswith("http") else f"{self.base}{path}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - 127.0.0.1
        try:
            with self.http.open(request, timeout=30) as response:
                status, content, ctype = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, content, ctype = exc.code, exc.read(), exc.headers
        except OSError as exc:
            raise StageFailure(f"{method} {path}: no answer from gunicorn ({exc})") from None
        if raw:
            return status, content, ctype
        try:
            answer = json.loads(content) if content else None
        except ValueError:
            answer = content[:300]
        return status, answer

    def api(self, method, path, *, expect, key=None, body=None, idempotency_key=None):
        status, answer = self.request(
            method,
            f"/api/v1/{path}",
            key=key or self.billing_key,
            body=body,
            idempotency_key=idempotency_key,
        )
        check(
            status == expect,
            f"{method} /api/v1/{path} answered {status}, expected {expect}: {answer}",
        )
        return answer

    def wait_for(self, what: str, probe, timeout: float = WAIT_SECONDS):
        """Call `probe` until it returns something truthy; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_worker_log()
            last = probe()
            if last:
                return last
            time.sleep(0.5)
        raise StageFailure(f"timed out after {timeout:.0f}s waiting for {what}")

    def move_clock(self, moment: datetime, why: str) -> None:
        set_clock(self.clock_file, moment)
        self.say(f"clock → {moment:%Y-%m-%d %H:%M:%S} UTC ({why})")

    # -- what the services left behind ----------------------------------------------------

    def worker_tasks(self) -> tuple[set[str], set[str], list[str]]:
        """Task ids the worker received and finished, and lines of tasks that failed."""
        text = self.worker_log.read_text(errors="replace") if self.worker_log.exists() else ""
        received = set(re.findall(r"Task [\w.]+\[([\w-]+)\] received", text))
        finished = set(re.findall(r"Task [\w.]+\[([\w-]+)\] (?:succeeded|raised|retry)", text))
        failed = [
            line for line in text.splitlines() if re.search(r"Task [\w.]+\[[\w-]+\] raised", line)
        ]
        return received, finished, failed

    def check_worker_log(self) -> None:
        _, _, failed = self.worker_tasks()
        if failed:
            raise StageFailure(f"a Celery task failed in the worker: {failed[0][:300]}")

    def worker_idle(self) -> bool:
        received, finished, _ = self.worker_tasks()
        return bool(received) and received <= finished

    def wait_worker_idle(self) -> None:
        """Every task the worker received has finished (twice in a row, half a second apart)."""
        self.wait_for(
            "the Celery worker to finish its tasks",
            lambda: self.worker_idle() and (time.sleep(0.5) or self.worker_idle()),
        )

    def daily_runs(self) -> int:
        """How often beat has sent the daily billing cycle so far."""
        text = self.beat_log.read_text(errors="replace") if self.beat_log.exists() else ""
        return text.count(f"Sending due task {DAILY_TASK} (billing.run_billing_cycle)")

    def cycles_done(self) -> int:
        """How many daily billing cycles the worker has finished."""
        text = self.worker_log.read_text(errors="replace") if self.worker_log.exists() else ""
        return len(re.findall(r"Task billing\.run_billing_cycle\[[\w-]+\] succeeded", text))

    def wait_daily_run(self, before: int) -> None:
        """Beat sent the daily cycle again, the worker ran it and everything it queued."""
        self.wait_for(f"beat to send '{DAILY_TASK}'", lambda: self.daily_runs() > before)
        self.wait_for(
            "the worker to run the daily billing cycle",
            lambda: self.cycles_done() >= self.daily_runs(),
        )
        self.wait_worker_idle()

    def hooks(self) -> list[dict]:
        if not self.hook_records.exists():
            return []
        lines = self.hook_records.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def app_hooks(self) -> list[dict]:
        return [h for h in self.hooks() if h.get("path") == "/hooks/billing"]

    def hook_types(self) -> Counter:
        return Counter(h["type"] for h in self.app_hooks() if h["valid"])

    def wait_hooks(self, expected: Counter) -> None:
        self.wait_for(
            f"webhooks {dict(expected)}",
            lambda: all(self.hook_types()[t] >= n for t, n in expected.items()),
        )

    def mails(self) -> list:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(p.read_bytes()) for p in sorted(self.mail_dir.glob("*.eml"))]

    def wait_mails(self, count: int) -> None:
        self.wait_for(f"{count} e-mails at the SMTP sink", lambda: len(self.mails()) >= count)

    # -- the scenario ---------------------------------------------------------------------

    def run(self) -> str:
        y = self.year
        self.check_production_serving()
        self.check_receiver_refuses_forgeries()
        self.register_webhook()
        credit, postpaid = self.create_clients()
        self.charge_january(credit, postpaid)

        before = self.daily_runs()
        self.move_clock(utc(f"{y}-02-01 00:09:50"), "beat's daily cycle is at 00:10")
        invoices = self.wait_for(
            "beat's daily cycle to issue January's invoices",
            lambda: self.january_invoices(credit, postpaid),
        )
        self.wait_daily_run(before)
        self.check_invoices(invoices, credit, postpaid)
        self.wait_hooks(Counter({"invoice.approved": 2}))
        self.check_pdf(invoices[credit])

        before = self.daily_runs()
        self.move_clock(utc(f"{y}-02-02 00:09:50"), "the due-date reminder")
        self.wait_daily_run(before)
        self.wait_hooks(Counter({"payment.due_soon": 1}))

        before = self.daily_runs()
        self.move_clock(utc(f"{y}-02-05 00:09:50"), f"past the due date {y}-02-04")
        account = self.wait_for(
            "beat's daily cycle to block the credit account",
            lambda: self.blocked(credit),
        )
        self.wait_daily_run(before)
        self.check_blocked(account, credit, postpaid, invoices)

        expected = Counter(
            {
                "invoice.approved": 2,
                "payment.due_soon": 1,
                "invoice.overdue": 1,
                "credit.blocked": 1,
            }
        )
        self.wait_hooks(expected)
        self.wait_mails(sum(expected.values()))
        self.wait_worker_idle()
        verified = self.check_hooks(expected, credit, postpaid, invoices)
        mails = self.check_mails(credit, postpaid, invoices)
        issued = len(invoices)
        return (
            f"{issued} invoices issued by beat, credit blocked, {verified} webhooks verified, "
            f"{mails} e-mails received"
        )

    def check_production_serving(self) -> None:
        status, _ = self.request("GET", "/healthz")
        check(status == 200, f"GET /healthz answered {status}")
        status, content, _ = self.request("GET", "/static/admin/css/base.css", raw=True)
        check(
            status == 200 and b"{" in content,
            f"GET /static/admin/css/base.css answered {status}: static files are not served "
            "(collectstatic + WhiteNoise with DEBUG off)",
        )
        status, _ = self.request("GET", "/api/v1/accounts/")
        check(status == 401, f"GET /api/v1/accounts/ without a key answered {status}, not 401")
        status, _, _ = self.request("GET", "/api/v1/schema/", key=self.billing_key, raw=True)
        check(status == 200, f"GET /api/v1/schema/ answered {status}")
        status, content, _ = self.request("GET", "/api/v1/no-such-thing/", raw=True)
        check(
            b"Traceback" not in content and b"DEBUG = True" not in content,
            "an error page shows a traceback: DEBUG is on",
        )
        self.say("gunicorn serves /healthz, static files, the API and its schema (DEBUG off)")

    def check_receiver_refuses_forgeries(self) -> None:
        body = json.dumps({"type": "invoice.paid", "timestamp": "", "data": {}})
        forged = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            self.hook_url.replace("/hooks/billing", "/hooks/probe"),
            data=body.encode(),
            method="POST",
            headers={
                "webhook-id": "msg_forged_probe",
                "webhook-timestamp": str(int(faked_now())),  # on time, wrongly signed
                "webhook-signature": "v1,QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
                "content-type": "application/json",
            },
        )
        try:
            with self.http.open(forged, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            raise StageFailure(f"the webhook receiver does not answer: {exc}") from None
        check(status == 400, f"the webhook receiver accepted a forged signature ({status})")
        probe = [h for h in self.hooks() if h["id"] == "msg_forged_probe"]
        check(
            probe and "signature" in probe[0].get("error", ""),
            f"the webhook receiver refused the forgery for another reason: {probe}",
        )

    def register_webhook(self) -> None:
        body = {
            "url": self.hook_url,
            "events": EVENTS,
            "secret": self.hook_secret,
            "description": "production CI stage",
        }
        self.api("POST", "webhooks/", body=body, expect=403)  # billing staff may not
        endpoint = self.api("POST", "webhooks/", key=self.manager_key, body=body, expect=201)
        check(endpoint["secret"] == self.hook_secret, "POST webhooks/ did not keep our secret")
        listed = self.api("GET", "webhooks/", key=self.manager_key, expect=200)
        check(
            [e["url"] for e in listed["results"]] == [self.hook_url],
            f"GET webhooks/ lists {listed}",
        )
        self.say(f"webhook endpoint {endpoint['id']} registered by a manager's key")

    def create_clients(self) -> tuple[int, int]:
        credit = self.api(
            "POST",
            "clients/",
            body={
                "name": "Stage Credit Ltd",
                "email": "billing@credit.stage.example",
                "currency": "USD",
                "payment_mode": "credit_limit",
                "credit_limit": {"amount": "500", "currency": "USD"},
                "payment_term_days": 3,
            },
            idempotency_key=f"stage-client-credit-{secrets.token_hex(4)}",
            expect=201,
        )
        postpaid = self.api(
            "POST",
            "clients/",
            body={
                "name": "Stage Postpaid GmbH",
                "email": "accounts@postpaid.stage.example",
                "currency": "EUR",
                "payment_mode": "postpaid",
            },
            expect=201,
        )
        account = credit["billing_account"]
        check(
            account["payment_mode"] == "credit_limit"
            and amount(account["credit_limit"]) == Decimal(500)
            and account["credit_status"] == "active",
            f"the credit client came back as {account}",
        )
        created = utc(credit["created_at"][:19])
        check(
            created.date() == date(self.year, 1, 20),
            f"the web process does not run on the faked clock: client created {created}",
        )
        self.say(
            f"clients created: credit_limit account {credit['account']} (USD, limit 500, "
            f"due in 3 days), postpaid account {postpaid['account']} (EUR)"
        )
        return credit["account"], postpaid["account"]

    def charge(self, account: int, value: str, description: str, key: str, expect=201):
        return self.api(
            "POST",
            f"accounts/{account}/charges/",
            body={"amount": value, "description": description},
            idempotency_key=key,
            expect=expect,
        )

    def charge_january(self, credit: int, postpaid: int) -> None:
        run = secrets.token_hex(4)
        first = self.charge(credit, "120.50", "Compute, January", f"stage-{run}-c1")
        check(
            first["created_at"].startswith(f"{self.year}-01-20"),
            f"charge booked at {first['created_at']}, not on the faked {self.year}-01-20",
        )
        replay = self.charge(credit, "120.50", "Compute, January", f"stage-{run}-c1")
        check(replay["entry"] == first["entry"], "a replayed Idempotency-Key booked a new entry")
        self.charge(credit, "999", "Compute, January", f"stage-{run}-c1", expect=409)
        self.charge(credit, "79.25", "Storage, January", f"stage-{run}-c2")
        refused = self.charge(credit, "400", "Over the limit", f"stage-{run}-c3", expect=402)
        check(
            refused.get("error") == "insufficient_funds",
            f"a charge over the credit limit was refused with {refused}",
        )
        self.charge(postpaid, "300.00", "Hosting, January", f"stage-{run}-p1")
        self.charge(postpaid, "45.10", "Traffic, January", f"stage-{run}-p2")
        for account, balance in ((credit, "-199.75"), (postpaid, "-345.10")):
            figures = self.api("GET", f"accounts/{account}/", expect=200)
            check(
                amount(figures["balance"]) == Decimal(balance)
                and amount(figures["unbilled"]) == Decimal(balance),
                f"account {account} after January's charges: {figures}",
            )
        self.say(
            "January's usage charged (replay answered the first entry, another body 409, "
            "over the limit 402): USD 199.75 and EUR 345.10 unbilled"
        )

    def january_invoices(self, credit: int, postpaid: int) -> dict | None:
        found = {}
        for account in (credit, postpaid):
            listed = self.api("GET", f"invoices/?account={account}", expect=200)["results"]
            monthly = [i for i in listed if i["period_start"] == f"{self.year}-01-01"]
            if not monthly:
                return None
            found[account] = monthly
        return found

    def check_invoices(self, invoices: dict, credit: int, postpaid: int) -> None:
        y = self.year
        for account, kind, total, due in (
            (credit, "credit", "199.75", f"{y}-02-04"),
            (postpaid, "postpaid", "345.10", None),
        ):
            check(
                len(invoices[account]) == 1,
                f"account {account} has {len(invoices[account])} invoices for January",
            )
            invoice = invoices[account] = invoices[account][0]
            expected = {
                "kind": kind,
                "status": "approved",
                "period_start": f"{y}-01-01",
                "period_end": f"{y}-01-31",
                "issued_on": f"{y}-02-01",
                "due_date": due,
            }
            got = {k: invoice[k] for k in expected}
            check(got == expected, f"invoice {invoice['number']}: {got}, expected {expected}")
            check(
                amount(invoice["total"]) == Decimal(total)
                and amount(invoice["outstanding"]) == Decimal(total),
                f"invoice {invoice['number']} totals {invoice['total']}, expected {total}",
            )
            detail = self.api("GET", f"invoices/{invoice['id']}/", expect=200)
            lines = sorted(amount(line["amount"]) for line in detail["lines"])
            check(
                sum(lines) == -Decimal(total) and len(lines) == 2,
                f"invoice {invoice['number']} has lines {detail['lines']}",
            )
            check(
                detail["payment"] and detail["payment"]["due_date"] == due,
                f"invoice {invoice['number']} has payment {detail['payment']}",
            )
        self.say(
            f"beat issued January's invoices on {y}-02-01: "
            f"{invoices[credit]['number']} USD 199.75 due {y}-02-04, "
            f"{invoices[postpaid]['number']} EUR 345.10 (both approved)"
        )

    def check_pdf(self, invoice: dict) -> None:
        status, content, headers = self.request(
            "GET", invoice["pdf_url"], key=self.billing_key, raw=True
        )
        check(
            status == 200
            and headers.get("Content-Type") == "application/pdf"
            and content.startswith(b"%PDF"),
            f"GET {invoice['pdf_url']} answered {status} {headers.get('Content-Type')}",
        )
        self.say(f"invoice PDF rendered by WeasyPrint ({len(content) // 1024} KiB)")

    def blocked(self, credit: int) -> dict | None:
        account = self.api("GET", f"accounts/{credit}/", expect=200)
        return account if account["credit_status"] == "blocked" else None

    def check_blocked(self, account, credit, postpaid, invoices) -> None:
        overdue = self.api("GET", f"invoices/{invoices[credit]['id']}/", expect=200)
        check(overdue["status"] == "overdue", f"the credit invoice is {overdue['status']}")
        other = self.api("GET", f"invoices/{invoices[postpaid]['id']}/", expect=200)
        check(other["status"] == "approved", f"the postpaid invoice became {other['status']}")
        refused = self.charge(credit, "1.00", "After the block", "stage-after-block", expect=402)
        check(
            refused.get("error") == "credit_blocked",
            f"a charge on the blocked account was refused with {refused}",
        )
        self.say(
            f"beat marked {overdue['number']} overdue and blocked account {credit}'s credit "
            "(a new charge: 402 credit_blocked)"
        )

    def check_hooks(self, expected: Counter, credit, postpaid, invoices) -> int:
        received = self.app_hooks()
        bad = [h for h in received if not h["valid"]]
        if bad:
            raise StageFailure(f"the webhook receiver refused a delivery: {bad[0]}")
        ids = Counter(h["id"] for h in received)
        twice = [i for i, n in ids.items() if n > 1]
        if twice:
            raise StageFailure(f"webhook {twice[0]} was delivered {ids[twice[0]]} times")
        check(
            self.hook_types() == expected,
            f"webhooks received {dict(self.hook_types())}, expected {dict(expected)}",
        )
        by_type = {h["type"]: h["data"] for h in received}
        approved = sorted(h["data"]["number"] for h in received if h["type"] == "invoice.approved")
        check(
            approved == sorted(invoices[a]["number"] for a in (credit, postpaid)),
            f"invoice.approved webhooks carry {approved}",
        )
        check(
            by_type["invoice.overdue"]["number"] == invoices[credit]["number"]
            and by_type["invoice.overdue"]["status"] == "overdue",
            f"invoice.overdue carries {by_type['invoice.overdue']}",
        )
        check(
            by_type["credit.blocked"]["id"] == credit
            and by_type["credit.blocked"]["credit_status"] == "blocked",
            f"credit.blocked carries {by_type['credit.blocked']}",
        )
        self.say(f"{len(received)} webhooks received, every signature verified: {dict(expected)}")
        return len(received)

    def check_mails(self, credit, postpaid, invoices) -> int:
        mails = self.mails()
        to = Counter(str(m["To"]) for m in mails)
        # One e-mail per event: at least the five events above (a later feature may add
        # events of its own, such as dunning steps, and mail them too).
        want = {"billing@credit.stage.example": 4, "accounts@postpaid.stage.example": 1}
        check(
            set(to) == set(want) and all(to[address] >= n for address, n in want.items()),
            f"e-mails went to {dict(to)}, expected at least {want}",
        )
        subjects = [str(m["Subject"]) for m in mails]
        for account in (credit, postpaid):
            number = invoices[account]["number"]
            check(
                any(number in s for s in subjects),
                f"no e-mail names invoice {number}: {subjects}",
            )
        for mail in mails:
            kinds = {part.get_content_type() for part in mail.walk()}
            check(
                {"text/plain", "text/html"} <= kinds,
                f"e-mail '{mail['Subject']}' has parts {sorted(kinds)}, not text and HTML",
            )
            sent = mail["Date"].datetime
            check(
                sent.year == self.year,
                f"e-mail '{mail['Subject']}' is dated {sent}: the worker's clock is not faked",
            )
        self.say(f"{len(mails)} e-mails at the SMTP sink: {subjects}")
        return len(mails)


def main() -> None:
    if sys.argv[1:2] == ["set-clock"]:
        set_clock(os.environ["FAKETIME_TIMESTAMP_FILE"], utc(sys.argv[2]))
        return
    stage = Stage(os.environ)
    try:
        summary = stage.run()
    except StageFailure as exc:
        print(f"FAILED: {exc}", flush=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - any crash still ends on one clear line
        traceback.print_exc()
        print(f"FAILED: the scenario crashed: {exc!r}", flush=True)
        sys.exit(1)
    print(f"SUMMARY: {summary}", flush=True)


if __name__ == "__main__":
    main()
