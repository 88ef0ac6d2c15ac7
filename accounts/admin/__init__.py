"""The operator control panel for clients and billing accounts (docs/design.md §6).

Split by model; every write goes through `accounts.services` / `ledger.services`.
"""

from django.contrib import admin

from . import billing_accounts, clients, history  # noqa: F401  (registers the admins)

admin.site.site_header = "Billing back office"
admin.site.site_title = "Billing back office"
admin.site.index_title = "Operator control panel"
