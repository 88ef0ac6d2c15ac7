"""A real HTTP endpoint on 127.0.0.1 that records what it receives."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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
