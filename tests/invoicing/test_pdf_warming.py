"""A changed invoice has its PDF rendered into the cache by a worker, after commit."""

from datetime import date

import pytest
import time_machine
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.pdf import invoice_pdf_version
from invoicing.services import invoicing_run_month
from ledger.services import ledger_charge, ledger_receive_payment
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_issuing_and_paying_warm_the_pdf_cache_after_commit(
    settings, django_capture_on_commit_callbacks
):
    settings.INVOICE_PDF_WARM_CACHE = True
    account = AccountFactory(payment_mode="credit_limit", credit_limit="100")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 5, 10))):
        ledger_charge(account_id=account.pk, amount="10", idempotency_key="c1")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        invoicing_run_month(run_date=date(2026, 11, 1))
    invoice = Invoice.objects.get(account=account)
    assert invoice.pdf_version == ""  # nothing rendered before the commit
    for callback in queued:
        callback()  # the worker's turn (tasks run eagerly in tests)
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert invoice.pdf_version == invoice_pdf_version(invoice)

    with django_capture_on_commit_callbacks(execute=True):
        ledger_receive_payment(account_id=account.pk, amount="10", idempotency_key="p1")
    paid = Invoice.objects.get(pk=invoice.pk)
    assert paid.status == "paid"
    assert paid.pdf_version == invoice_pdf_version(paid) != invoice.pdf_version


def test_nothing_is_rendered_when_warming_is_off(settings, django_capture_on_commit_callbacks):
    settings.INVOICE_PDF_WARM_CACHE = False
    account = AccountFactory(payment_mode="postpaid")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 5, 10))):
        ledger_charge(account_id=account.pk, amount="10", idempotency_key="c1")
    with django_capture_on_commit_callbacks(execute=True):
        invoicing_run_month(run_date=date(2026, 11, 1))
    assert Invoice.objects.get(account=account).pdf_version == ""
