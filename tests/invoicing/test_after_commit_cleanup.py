"""Cleaning up after a commit never turns the committed change into an error."""

import logging
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from approvals.services import settings_update
from invoicing.models import Invoice, Payment
from invoicing.services import invoice_attach_receipt
from tests.factories import AccountFactory, staff_user
from tests.pdfs import minimal_pdf

from .helpers import at, charge, run_cycle

pytestmark = pytest.mark.django_db

PDF, NEW_PDF = minimal_pdf(), minimal_pdf(padding=100)


def test_a_replaced_receipt_that_cannot_be_deleted_is_logged_and_the_new_one_kept(
    settings, tmp_path, caplog, django_capture_on_commit_callbacks
):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    manager = staff_user("Managers")
    settings_update(changed_by=manager, external_invoicing=True)
    account = AccountFactory(payment_mode="credit_limit", credit_limit="1000")
    charge(account, "100", at(2026, 10, 10, 12))
    run_cycle("2026-11-01")
    run_cycle("2026-11-02")
    invoice = Invoice.objects.get(account=account, period_start=date(2026, 10, 1))
    first = invoice_attach_receipt(
        invoice_id=invoice.pk, upload=SimpleUploadedFile("a.pdf", PDF), attached_by=manager
    )
    old = tmp_path / first.receipt_file
    old.unlink()
    old.mkdir()  # the old file cannot be unlinked any more
    (old / "keep").write_bytes(b"x")

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        second = invoice_attach_receipt(
            invoice_id=invoice.pk,
            upload=SimpleUploadedFile("b.pdf", NEW_PDF),
            attached_by=manager,
        )

    assert Payment.objects.get(invoice=invoice).receipt_file == second.receipt_file
    assert (tmp_path / second.receipt_file).read_bytes() == NEW_PDF
    assert any(first.receipt_file in r.getMessage() for r in caplog.records)
