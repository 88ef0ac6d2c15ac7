"""Invoices and payments in the operator control panel."""

from . import invoices, payments  # noqa: F401  (registers the admins)
