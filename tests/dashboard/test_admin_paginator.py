"""Large changelists use the planner's row estimate instead of COUNT(*) when unfiltered."""

import pytest
from django.contrib import admin
from django.db import connection

from billing_site import admin_paginator
from billing_site.admin_paginator import EstimatedCountPaginator
from invoicing.models import Invoice
from ledger.models import Entry
from tests.conftest import IS_POSTGRES
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_entries_and_invoices_changelists_use_the_estimating_paginator():
    assert admin.site._registry[Entry].paginator is EstimatedCountPaginator
    assert admin.site._registry[Invoice].paginator is EstimatedCountPaginator
    for model in (Entry, Invoice):
        model_admin = admin.site._registry[model]
        assert model_admin.list_select_related
        assert model_admin.raw_id_fields or model_admin.autocomplete_fields


def test_small_tables_and_sqlite_count_exactly():
    for n in range(3):
        AccountFactory(funds=str(10 + n))
    entries = Entry.objects.all()
    assert EstimatedCountPaginator(entries, 100).count == Entry.objects.count() == 3


@pytest.mark.postgres
def test_unfiltered_large_table_uses_the_estimate_and_filtered_counts_exactly(monkeypatch):
    accounts = [AccountFactory(funds=str(10 + n)) for n in range(4)]
    with connection.cursor() as cursor:
        # Pretend the planner saw a big table: ANALYZE, then lower the threshold.
        cursor.execute("ANALYZE ledger_entry")
    estimate = admin_paginator.estimated_rows(Entry.objects.all())
    assert estimate is not None
    monkeypatch.setattr(admin_paginator, "ESTIMATE_ABOVE", -1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = 1234567 WHERE relname = 'ledger_entry'")
    assert EstimatedCountPaginator(Entry.objects.order_by("-id"), 100).count == 1234567
    filtered = Entry.objects.filter(account=accounts[0])
    assert EstimatedCountPaginator(filtered, 100).count == 1
    assert not IS_POSTGRES or connection.vendor == "postgresql"


@pytest.mark.postgres
def test_unanalysed_table_counts_exactly():
    AccountFactory(funds="5")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'ledger_entry'")
    assert EstimatedCountPaginator(Entry.objects.all(), 100).count == 1
