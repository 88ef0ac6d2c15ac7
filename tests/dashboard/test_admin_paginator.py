"""Large changelists use the planner's row estimate instead of COUNT(*) when unfiltered."""

import pytest
from django.contrib import admin
from django.db import connection

from billing_site import admin_paginator
from billing_site.admin_paginator import EstimatedCountPaginator
from invoicing.models import Invoice
from ledger.models import Entry
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_entries_and_invoices_changelists_use_the_estimating_paginator():
    assert admin.site._registry[Entry].paginator is EstimatedCountPaginator
    assert admin.site._registry[Invoice].paginator is EstimatedCountPaginator
    for model in (Entry, Invoice):
        model_admin = admin.site._registry[model]
        assert model_admin.list_select_related
        assert model_admin.raw_id_fields or model_admin.autocomplete_fields


def test_small_tables_count_exactly():
    for n in range(3):
        AccountFactory(funds=str(10 + n))
    entries = Entry.objects.all()
    assert EstimatedCountPaginator(entries, 100).count == Entry.objects.count() == 3


def test_the_estimate_is_the_planners_row_count_after_analyze():
    for n in range(4):
        AccountFactory(funds=str(10 + n))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_entry")  # the table owner may; no superuser needed
    assert admin_paginator.estimated_rows(Entry.objects.all()) == Entry.objects.count() == 4


def test_an_unfiltered_large_table_uses_the_estimate_and_a_filtered_one_counts(monkeypatch):
    accounts = [AccountFactory(funds=str(10 + n)) for n in range(4)]
    # A big table without writing a million rows: the planner's figure, as it would read.
    monkeypatch.setattr(admin_paginator, "estimated_rows", lambda queryset: 1_234_567)
    assert EstimatedCountPaginator(Entry.objects.order_by("-id"), 100).count == 1_234_567
    filtered = Entry.objects.filter(account=accounts[0])
    assert EstimatedCountPaginator(filtered, 100).count == 1


def test_a_table_without_statistics_counts_exactly(monkeypatch):
    AccountFactory(funds="5")
    monkeypatch.setattr(admin_paginator, "estimated_rows", lambda queryset: None)
    assert EstimatedCountPaginator(Entry.objects.all(), 100).count == 1
