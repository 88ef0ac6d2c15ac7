"""The ERP's invoice documents ("receipts"), kept as private files.

A receipt is stored under `PRIVATE_MEDIA_ROOT/receipts/` with a random name: never under
a STATIC/MEDIA URL, never under a name the uploader chose, so it is reachable only
through the views that check who asks. What is accepted is decided by the bytes, not by
the file name or the content type the client claims: a PDF reader (pypdf) must open it,
find its cross-reference table and trailer and count at least one page, without a
password. Five bytes of `%PDF-` in front of anything else are not a receipt.
"""

import io
import logging
import re
import secrets
from pathlib import Path

from django.conf import settings
from pypdf import PdfReader
from pypdf.errors import DependencyError

from billing_site.exceptions import InvalidInput
from billing_site.private_files import write_atomically

FOLDER = "receipts"
MAX_BYTES = 10 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
_NAME = re.compile(rf"^{FOLDER}/[0-9a-f]{{32}}\.pdf$")
_CHUNK = 64 * 1024

logger = logging.getLogger(__name__)


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
    _check_readable(data, field=field)
    return data


def _check_readable(data: bytes, *, field: str) -> None:
    """Open the document as a PDF reader would; refuse it (400) if that fails."""
    try:
        reader = PdfReader(io.BytesIO(data))  # the header, cross-reference table and trailer
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                # AES needs the optional `cryptography` package to tell whether a password
                # is needed; the document's structure was read, which is what is checked.
                return
            if not opened:
                raise InvalidInput(
                    "The receipt is a password-protected PDF; upload it without a password, "
                    "so the client can open it.",
                    field=field,
                )
        pages = len(reader.pages)
    except InvalidInput:
        raise
    # A parser of uploaded bytes fails in many ways on hostile input (its own errors,
    # ValueError, KeyError, RecursionError...): each means the file is not a usable PDF.
    except Exception as exc:  # noqa: BLE001
        logger.info("Receipt refused: pypdf could not read it (%s: %s)", type(exc).__name__, exc)
        pages = 0
    if pages < 1:
        raise InvalidInput(
            "The receipt starts like a PDF but is not a PDF a reader can open (its "
            "cross-reference table, trailer or pages are missing or broken).",
            field=field,
        )


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
