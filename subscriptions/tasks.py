"""Thin Celery entry points; the work is in subscriptions.services.

Beat runs renewals as a step of the daily billing cycle (`billing.run_billing_cycle`);
this task reruns the step alone for a date, e.g. after a fix, and is safe to run twice.
"""

from datetime import date

from celery import shared_task
from django.utils import timezone

from .services import subscriptions_renew


@shared_task(name="subscriptions.renew", ignore_result=True, acks_late=True)
def renew_subscriptions(run_date: str | None = None) -> int:
    day = date.fromisoformat(run_date) if run_date else timezone.localdate()
    return subscriptions_renew(run_date=day)
