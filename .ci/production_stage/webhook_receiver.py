"""A webhook receiver for the production stage that checks every delivery's signature.

    STAGE_WEBHOOK_SECRET=whsec_... webhook_receiver.py PORT RECORD_FILE

Listens on 127.0.0.1:PORT. Every POST is verified with the `standardwebhooks` package
(an implementation of the spec independent of the product's): a valid delivery is
answered 204, anything else 400. Each request is appended to RECORD_FILE as one JSON
line: webhook-id, event type, whether it verified and why not. The signature timestamp
is checked against this process's clock (5 minutes' tolerance), so the receiver runs on
the same faked clock as the worker. Runs until SIGTERM or SIGINT.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

RECORD_LOCK = threading.Lock()


def make_handler(webhook: Webhook, record_file: str):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            record = {"id": headers.get("webhook-id"), "path": self.path, "valid": False}
            try:
                payload = webhook.verify(body, headers)
            except (WebhookVerificationError, ValueError) as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                status = 400
            else:
                record.update(valid=True, type=payload.get("type"), data=payload.get("data"))
                status = 204
            with RECORD_LOCK, open(record_file, "a", encoding="utf-8") as out:
                out.write(json.dumps(record, sort_keys=True) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            sys.stdout.write("webhook receiver: " + (format % args) + "\n")
            sys.stdout.flush()

    return Handler


def main() -> None:
    port, record_file = int(sys.argv[1]), sys.argv[2]
    webhook = Webhook(os.environ["STAGE_WEBHOOK_SECRET"])
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(webhook, record_file))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(
            signum, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
        )
    print(f"webhook receiver: listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
