from django.core.management.base import BaseCommand, CommandError

from invoicing.models import Invoice
from invoicing.selectors import invoice_mismatches
from ledger.models import Balance
from ledger.selectors import accounts_without_balance_row, ledger_mismatches


class Command(BaseCommand):
    help = (
        "Check balance rows against entries and holds, invoices against their lines and "
        "entries, invoice numbers against their yearly series, and invoice statuses "
        "against their logs and payments; exit 1 on a mismatch."
    )

    def handle(self, *args, **options):
        problems = [f"account {pk}: no balance row" for pk in accounts_without_balance_row()]
        problems += [str(m) for m in ledger_mismatches()]
        problems += [str(m) for m in invoice_mismatches()]
        if problems:
            for line in problems:
                self.stderr.write(line)
            raise CommandError(f"{len(problems)} mismatch(es) in the ledger.")
        self.stdout.write(
            f"Ledger OK: {Balance.objects.count()} accounts and "
            f"{Invoice.objects.count()} invoices checked."
        )
