"""The spend rule has two renderings (Python and the single-statement SQL); they agree."""

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import BillingAccount, CreditLimitScope, CreditStatus, PaymentMode
from ledger.selectors import usable_amount, usable_sql

pytestmark = [pytest.mark.django_db]

amounts = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=6, allow_nan=False
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(PaymentMode.values),
    status=st.sampled_from(CreditStatus.values),
    scope=st.sampled_from(CreditLimitScope.values),
    limit=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6),
    balance=amounts,
    unbilled=amounts,
    reserved=st.decimals(min_value=Decimal(0), max_value=Decimal("100000"), places=6),
)
def test_the_sql_rule_gives_the_same_usable_amount_as_the_python_rule(
    mode, status, scope, limit, balance, unbilled, reserved
):
    credit_limit = limit if mode == PaymentMode.CREDIT_LIMIT else None
    account = BillingAccount(
        payment_mode=mode,
        credit_status=status,
        credit_limit_scope=scope,
        credit_limit=credit_limit,
    )
    expected = usable_amount(account, balance=balance, unbilled=unbilled, reserved=reserved)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {usable_sql('b', 'a')} FROM "
            "(SELECT %s::numeric AS balance, %s::numeric AS unbilled, "
            "%s::numeric AS reserved) b, "
            "(SELECT %s::text AS payment_mode, %s::numeric AS credit_limit, "
            "%s::text AS credit_limit_scope, %s::text AS credit_status) a",
            [balance, unbilled, reserved, mode, credit_limit, scope, status],
        )
        (actual,) = cursor.fetchone()
    assert actual == expected
