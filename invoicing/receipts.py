"""The ERP's invoice documents ("receipts"), kept as private files.

A receipt is stored under `PRIVATE_MEDIA_ROOT/receipts/` with a random name: never under
a STATIC/MEDIA URL, never under a name the uploader chose, so it is reachable only
through the views that check who asks. What is accepted is decided by the bytes, not by
the file name or the content type the client claims.
"""

import re
import secrets
from pathlib import Path

from django.conf import settings

from billing_site.exceptions import InvalidInput
from billing_site.private_files import write_atomically

FOLDER = "receipts"
MAX_BYTES = 10 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
_NAME = re.compile(rf"^{FOLDER}/[0-9a-f]{{32}}\.pdf$")
_CHUNK = 64 * 1024


def _root() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT)


def _path(name: str) -> Path:
    """The file of a stored name; refuses anything this module did not generate."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a receipt's stored name.")
    return _root() / name


def too_big(field: str = "file") -> InvalidInput:
    return InvalidInput(
        f"The receipt is larger than the {MAX_BYTES // 2**20} MiB limit ({MAX_BYTES:,} bytes).",
        field=field,
    )


def read_checked(upload, *, field: str = "file") -> bytes:
    """The upload's bytes if it is a PDF within the size limit; else a 400 naming `field`.

    `upload` is a Django `UploadedFile` or any binary file object. Reads at most one byte
    past the limit, so an oversized stream is refused without being read to its end.
    """
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise too_big(field)
    if hasattr(upload, "seek"):
        upload.seek(0)
    parts, total = [], 0
    while total <= MAX_BYTES:
        chunk = upload.read(min(_CHUNK, MAX_BYTES + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    if total > MAX_BYTES:
        raise too_big(field)
    data = b"".join(parts)
    if not data:
        raise InvalidInput("The receipt file is empty.", field=field)
    if not data.startswith(PDF_MAGIC):
        raise InvalidInput(
            "The receipt must be a PDF document (its content does not start with %PDF-).",
            field=field,
        )
    return data


def store(data: bytes) -> str:
    """Write a new receipt under a random name; returns the name to record."""
    name = f"{FOLDER}/{secrets.token_hex(16)}.pdf"
    write_atomically(_path(name), data)
    return name


def delete(name: str) -> None:
    if name:
        _path(name).unlink(missing_ok=True)


def read(name: str) -> bytes | None:
    """The stored receipt's bytes; None when there is none (or it went missing)."""
    if not name:
        return None
    try:
        return _path(name).read_bytes()
    except FileNotFoundError:
        return None
