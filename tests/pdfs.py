"""Small, real PDF documents for tests that upload one (receipts), made with pypdf."""

import io

from pypdf import PdfWriter


def minimal_pdf(*, pages: int = 1, padding: int = 0, user_password: str | None = None) -> bytes:
    """A valid PDF of blank pages; `padding` bytes of attachment make it as large as needed."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if padding:
        writer.add_attachment("padding.bin", b"\x00" * padding)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
