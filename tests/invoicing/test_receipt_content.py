"""A receipt is accepted for being a PDF a reader can open, not for its first five bytes."""

import io

import pytest

from billing_site.exceptions import InvalidInput
from invoicing import receipts
from tests.pdfs import minimal_pdf


def check(data: bytes) -> bytes:
    return receipts.read_checked(io.BytesIO(data))


def test_a_real_pdf_is_accepted_byte_for_byte():
    data = minimal_pdf(pages=2)

    assert check(data) == data


def test_an_incremental_update_after_the_end_marker_is_accepted():
    data = minimal_pdf() + b"% an appended comment\n"

    assert check(data) == data


def test_a_pdf_from_another_generator_is_accepted():
    """WeasyPrint writes compressed object and cross-reference streams, as many ERPs do."""
    from weasyprint import HTML

    data = HTML(string="<h1>ERP invoice 2026-10</h1><p>Total 92.50 EUR</p>").write_pdf()

    assert check(data) == data


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n%%EOF\n",
        b"%PDF-1.4\n<html><script>alert(1)</script></html>\n",
        b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
        b"%PDF-" + b"\x00" * 4096,
        minimal_pdf()[:200],  # cut off: no cross-reference table, no trailer
    ],
    ids=["header-and-eof", "html-behind-a-header", "no-pages", "zeros", "truncated"],
)
def test_a_file_that_only_starts_like_a_pdf_is_refused(data):
    with pytest.raises(InvalidInput, match="not a PDF a reader can open") as refused:
        check(data)

    assert refused.value.field == "file"


def test_a_password_protected_pdf_is_refused():
    with pytest.raises(InvalidInput, match="password") as refused:
        check(minimal_pdf(user_password="secret"))

    assert refused.value.field == "file"


def test_an_encrypted_pdf_anyone_can_open_is_accepted():
    data = minimal_pdf(user_password="")  # owner restrictions only: every reader opens it

    assert check(data) == data


def test_an_aes_encrypted_pdf_is_accepted_when_its_password_cannot_be_checked(monkeypatch):
    """AES decryption needs the optional `cryptography` package, which is not installed."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    def needs_cryptography(self, password):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", needs_cryptography)
    data = minimal_pdf(user_password="")

    assert check(data) == data


def test_the_size_limit_is_checked_before_the_content():
    with pytest.raises(InvalidInput, match="10 MiB"):
        check(b"%PDF-" + b"0" * receipts.MAX_BYTES)
