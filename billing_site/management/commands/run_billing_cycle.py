import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from billing_site.cycle import STEPS, run_cycle
from billing_site.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Run everything the scheduler would run on a date (default today); idempotent, "
        "returns when the work is done."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, date=None, **options):
        run_date = self._parse(date)
        bar = tqdm(
            total=len(STEPS),
            desc=f"Billing cycle {run_date}",
            unit="step",
            disable=not sys.stderr.isatty(),
        )

        def on_step_done(step, count):
            bar.set_postfix_str(f"{step.name}: {count}")
            bar.update(1)

        try:
            with bar:
                results = run_cycle(run_date, on_step_done=on_step_done)
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        summary = ", ".join(f"{name.lower()}: {count}" for name, count in results)
        self.stdout.write(f"Billing cycle for {run_date} done ({summary}).")

    @staticmethod
    def _parse(value):
        if value is None:
            return timezone.localdate()
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, got {value!r}.") from None
