"""Invoice numbers from a locked per-year series row: gapless, never `Max() + 1`."""

from django.db import transaction

from invoicing.models import InvoiceSeries


def invoice_numbers_take(*, year: int, count: int) -> list[str]:
    """Take the next `count` numbers of `year`; the series row stays locked until commit.

    Called inside the transaction that creates the invoices, so a rollback gives the
    numbers back and the series never has a hole.
    """
    if count <= 0:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_numbers_take must run inside the invoices' transaction")
    InvoiceSeries.objects.get_or_create(year=year)
    series = InvoiceSeries.objects.select_for_update().get(year=year)
    first = series.next_number
    series.next_number = first + count
    series.save(update_fields=["next_number"])
    return [f"INV-{year}-{n:06d}" for n in range(first, first + count)]
