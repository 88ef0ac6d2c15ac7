"""The PDF of the largest invoice the books allow renders, to the last digit."""

import io
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from pypdf import PdfReader

from billing_site.money import MAX_AMOUNT
from invoicing.models import Invoice
from invoicing.pdf import invoice_pdf
from invoicing.services import invoicing_run_month
from ledger.models import EntryKind
from ledger.services import ledger_charge
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

LARGEST = MAX_AMOUNT - Decimal("0.000001")  # the largest charge, and the largest unbilled


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path


def test_the_pdf_of_an_invoice_at_the_ceiling_renders_its_total():
    account = AccountFactory(payment_mode="postpaid")
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 10, 15, 12))):
        ledger_charge(
            account_id=account.pk,
            amount=LARGEST,
            kind=EntryKind.USAGE,
            description="Everything",
            idempotency_key="all-of-it",
        )
    invoicing_run_month(run_date=date(2026, 11, 1))
    invoice = Invoice.objects.select_related("account__client").get(account=account)
    # Rounded half-up to cents, the total reaches 10^13 itself.
    assert invoice.total == MAX_AMOUNT

    pdf = invoice_pdf(invoice)

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "10,000,000,000,000.00 USD" in text
    assert "9,999,999,999,999.999999 USD" in text  # the exact subtotal
