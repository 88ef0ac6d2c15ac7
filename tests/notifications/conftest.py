"""Real servers on 127.0.0.1 that record what they receive: an HTTP endpoint for
webhooks and an SMTP server for e-mail."""

import socket
import socketserver
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kombu import pools

from tests.celery_worker import broker_env


class Receiver:
    def __init__(self):
        self.requests = []  # (headers dict, body str)
        self.replies = []  # status codes to answer in turn; then 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.replies.pop(0) if state.replies else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


class SmtpSink:
    """What a real SMTP server on 127.0.0.1 accepted: one (recipients, message) per mail."""

    def __init__(self):
        self.messages = []  # (list of recipients, raw message str)
        self.data_delay = 0.0  # seconds to wait before accepting a message

    @property
    def port(self):
        return self.server.server_address[1]


@pytest.fixture
def smtp_sink():
    """A minimal SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), enough for
    smtplib and Django's smtp backend; python's own `smtpd` is gone from 3.12."""
    state = SmtpSink()
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self):
            self.reply("220 sink ready")
            recipients = []
            while line := self.rfile.readline():
                verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 sink")
                elif verb == "MAIL":
                    recipients = []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    body = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b""):
                        body.append(data.decode(errors="replace"))
                    time.sleep(state.data_delay)
                    with lock:
                        state.messages.append((recipients, "".join(body)))
                    self.reply("250 queued")
                elif verb in ("RSET", "NOOP"):
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    state.server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


def closed_port() -> int:
    """A local TCP port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_down(settings):
    """Django's real SMTP backend, pointed at a port where no server listens."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 5
    return settings


def smtp_up(settings, sink: SmtpSink) -> None:
    """Point Django's SMTP backend at the sink: the mail server is back."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", sink.port, 5


def _reset_producers(app) -> None:
    """Drop the app's pooled broker connections, so the next publish uses `broker_url`.

    kombu keeps its pools in a registry by connection: closing the app's pool alone would
    leave a closed pool there for the next publish to the same URL to pick up."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_unreachable(url: str | None = None, transport_options: dict | None = None):
    """The Celery broker unreachable for real (by default Redis on a port where nothing
    listens), and tasks published instead of run in-process. Publishing retries as the
    settings say."""
    from billing_site.celery import app

    saved = {
        name: app.conf[name]
        for name in ("broker_url", "broker_transport_options", "task_always_eager")
    }
    url = url or f"redis://127.0.0.1:{closed_port()}/0"
    app.conf.update(
        broker_url=url,
        broker_transport_options=transport_options or {},
        task_always_eager=False,
    )
    _reset_producers(app)
    try:
        with broker_env(url):
            yield
    finally:
        app.conf.update(saved)
        _reset_producers(app)


@contextmanager
def broker_hanging(timeout: int = 1):
    """A "Redis" that accepts connections and never answers, with the socket timeouts
    production sets for Redis shortened to `timeout` seconds."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(100)
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        timeouts = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
        with broker_unreachable(url, timeouts):
            yield


@pytest.fixture
def broker_down():
    with broker_unreachable():
        yield
