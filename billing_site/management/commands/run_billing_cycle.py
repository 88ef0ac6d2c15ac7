import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from billing_site.cycle import STEPS, calendar_catch_up, run_cycle
from billing_site.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Run everything the scheduler would run on a date; idempotent, returns when the "
        "work is done. Without --date: every date since the last completed one up to "
        "today, in order, leaving out the steps already done."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD: every step of that date, done or not")

    def handle(self, *args, date=None, **options):
        run_date = self._parse(date)
        bar = tqdm(
            total=len(STEPS),
            desc=f"Billing cycle {run_date or timezone.localdate()}",
            unit="step",
            disable=not sys.stderr.isatty(),
        )

        def on_dates(dates):
            bar.reset(total=len(dates) * len(STEPS))
            if len(dates) > 1:
                bar.set_description(f"Billing cycle {dates[0]} to {dates[-1]}")

        def on_step_done(step, count):
            bar.set_postfix_str(f"{step.name}: {'already done' if count is None else count}")
            bar.update(1)

        try:
            with bar:
                if run_date is not None:
                    days = [(run_date, run_cycle(run_date, on_step_done=on_step_done))]
                else:
                    days = calendar_catch_up(on_dates=on_dates, on_step_done=on_step_done)
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        if not days:
            self.stdout.write(f"Billing cycle for {timezone.localdate()}: every step already done.")
        for day, runs in days:
            if all(run.count is None for run in runs):
                self.stdout.write(f"Billing cycle for {day}: every step already done.")
            else:
                summary = ", ".join(str(run) for run in runs)
                self.stdout.write(f"Billing cycle for {day} done ({summary}).")

    @staticmethod
    def _parse(value):
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, got {value!r}.") from None
