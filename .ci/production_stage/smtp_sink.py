"""An SMTP sink for the production stage: each message it receives becomes a file.

    smtp_sink.py PORT FOLDER

Listens on 127.0.0.1:PORT (aiosmtpd, no TLS, no auth) and writes every message, as
received, to FOLDER/NNNN.eml (written whole, then renamed, so a reader never sees half a
message). Runs until SIGTERM or SIGINT.
"""

import itertools
import signal
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller


class FolderHandler:
    def __init__(self, folder: Path):
        self.folder = folder
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            number = next(self.numbers)
        partial = self.folder / f".{number:04d}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.folder / f"{number:04d}.eml")
        print(
            f"smtp sink: message {number} from {envelope.mail_from} to "
            f"{', '.join(envelope.rcpt_tos)}",
            flush=True,
        )
        return "250 Message accepted for delivery"


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(FolderHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"smtp sink: listening on 127.0.0.1:{port}, writing to {folder}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
