"""Every plan is sold in one currency: fill the plans that had none, then require it.

A plan without a currency used to be sold in every currency, its price read in the
ordering account's own. Each such plan takes the currency of the accounts that bought it
(the one most of them keep their books in, when they differ); a plan nobody bought takes
the currency most accounts keep their books in, or USD on a database with no account.
"""

from collections import Counter

from django.db import migrations, models

FALLBACK_CURRENCY = "USD"


def _most_common(currencies) -> str | None:
    counts = Counter(currencies)
    if not counts:
        return None
    # Ties go to the alphabetically first code, so every database fills the same way.
    return min(counts, key=lambda code: (-counts[code], code))


def fill_plan_currencies(apps, schema_editor):
    Plan = apps.get_model("subscriptions", "Plan")
    Subscription = apps.get_model("subscriptions", "Subscription")
    BillingAccount = apps.get_model("accounts", "BillingAccount")
    books = _most_common(BillingAccount.objects.values_list("currency", flat=True))
    for plan in Plan.objects.filter(currency=""):
        buyers = Subscription.objects.filter(
            models.Q(plan=plan) | models.Q(period_plan=plan)
        ).values_list("account__currency", flat=True)
        plan.currency = _most_common(buyers) or books or FALLBACK_CURRENCY
        plan.save(update_fields=["currency"])
    # Codes typed before the upper-casing rule, if any, in the form the constraint wants.
    for plan in Plan.objects.exclude(currency__regex=r"^[A-Z]{3}$"):
        plan.currency = plan.currency.strip().upper()
        plan.save(update_fields=["currency"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_credit_limit_check_refuses_null"),
        ("subscriptions", "0003_payment_request_invoice_top_up"),
    ]

    operations = [
        migrations.RunPython(fill_plan_currencies, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="plan",
            name="currency",
            field=models.CharField(
                help_text="ISO 4217: the price is in it, and only accounts keeping their books "
                "in it order the plan.",
                max_length=3,
            ),
        ),
        migrations.AddConstraint(
            model_name="plan",
            constraint=models.CheckConstraint(
                condition=models.Q(("currency__regex", "^[A-Z]{3}$")),
                name="plan_currency_iso_code",
            ),
        ),
    ]
