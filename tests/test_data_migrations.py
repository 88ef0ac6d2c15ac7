"""Data written before a rule existed is brought under it by the migration adding the rule."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*targets):
    """Migrate to `targets` and return the historical models as they are then."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    executor.loader.build_graph()
    return executor.loader.project_state(list(targets)).apps


def latest(app):
    return MigrationExecutor(connection).loader.graph.leaf_nodes(app)[0]


@pytest.fixture
def back_to_latest():
    """Whatever a test migrated back, the schema is the current one afterwards."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _account(apps, name, currency, **fields):
    Client = apps.get_model("accounts", "Client")
    BillingAccount = apps.get_model("accounts", "BillingAccount")
    client = Client.objects.create(name=name, email=f"{name.lower()}@example.com")
    return BillingAccount.objects.create(client=client, currency=currency, **fields)


def test_plans_without_a_currency_take_the_currency_of_their_buyers(back_to_latest):
    before = migrate(
        ("accounts", latest("accounts")[1]),
        ("subscriptions", "0003_payment_request_invoice_top_up"),
    )
    Plan = before.get_model("subscriptions", "Plan")
    Subscription = before.get_model("subscriptions", "Subscription")
    euro = _account(before, "Helios", "EUR")
    dollar = _account(before, "Acme", "USD")
    other_dollar = _account(before, "Cobalt", "USD")
    bought_in_euro = Plan.objects.create(code="eu", name="EU", price=Decimal(1), currency="")
    bought_in_both = Plan.objects.create(code="mixed", name="Mixed", price=1, currency="")
    never_bought = Plan.objects.create(code="idle", name="Idle", price=1, currency="")
    priced = Plan.objects.create(code="gbp", name="GBP", price=1, currency="GBP")
    for account, plan in [
        (euro, bought_in_euro),
        (dollar, bought_in_both),
        (euro, bought_in_both),
        (other_dollar, bought_in_both),
    ]:
        Subscription.objects.create(
            account=account, plan=plan, period_plan=plan, plan_price=1, period_price=1
        )

    after = migrate(("subscriptions", latest("subscriptions")[1]))

    currencies = dict(
        after.get_model("subscriptions", "Plan").objects.values_list("code", "currency")
    )
    assert currencies == {
        bought_in_euro.code: "EUR",
        bought_in_both.code: "USD",  # most of its buyers
        never_bought.code: "USD",  # the currency most accounts keep their books in
        priced.code: "GBP",
    }


def test_blocked_accounts_take_the_reason_of_their_last_block_from_the_history(back_to_latest):
    before = migrate(("accounts", "0004_credit_limit_check_refuses_null"))
    AccountStateChange = before.get_model("accounts", "AccountStateChange")
    credit = {"payment_mode": "credit_limit", "credit_limit": Decimal(100)}
    by_staff = _account(before, "Foxglove", "USD", credit_status="blocked", **credit)
    for reason in ("Cheque bounced", "Payment promise broken"):  # blocked, lifted, blocked
        AccountStateChange.objects.create(
            account=by_staff,
            field="credit_status",
            from_state="active",
            to_state="blocked",
            reason=reason,
        )
    silent = _account(
        before, "Delta", "USD", credit_status="blocked", credit_blocked_by_overdue=True, **credit
    )
    active = _account(before, "Everest", "USD", **credit)

    after = migrate(("accounts", latest("accounts")[1]))

    reasons = dict(
        after.get_model("accounts", "BillingAccount").objects.values_list(
            "client__name", "credit_block_reason"
        )
    )
    assert reasons == {
        by_staff.client.name: "Payment promise broken",
        silent.client.name: "An invoice is overdue.",
        active.client.name: "",
    }
