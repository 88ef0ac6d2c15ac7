"""Every write to invoices and payments; see the modules for the rules."""

from .erp import (
    invoice_approve,
    invoice_attach_receipt,
    invoice_attach_receipt_for_period,
    invoicing_close_erp,
    payment_approve,
    payment_cancel,
)
from .issue import (
    BillingPeriod,
    RunResult,
    invoice_issue_now,
    invoicing_accounts_due,
    invoicing_bill_accounts,
    invoicing_run_month,
)
from .lifecycle import (
    invoice_allocate_money,
    invoice_cancel,
    invoicing_mark_overdue,
    invoicing_remind_due,
    lift_overdue_block,
)
from .numbering import invoice_numbers_take

__all__ = [
    "BillingPeriod",
    "RunResult",
    "invoice_allocate_money",
    "invoice_approve",
    "invoice_attach_receipt",
    "invoice_attach_receipt_for_period",
    "invoice_cancel",
    "invoice_issue_now",
    "invoice_numbers_take",
    "invoicing_accounts_due",
    "invoicing_bill_accounts",
    "invoicing_close_erp",
    "invoicing_mark_overdue",
    "invoicing_remind_due",
    "invoicing_run_month",
    "lift_overdue_block",
    "payment_approve",
    "payment_cancel",
]
