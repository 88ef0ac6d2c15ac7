"""The "Convert payment mode" page calls `account_convert_mode` and shows its refusals."""

from decimal import Decimal

from accounts.models import BillingAccount, CreditLimitScope, PaymentMode, PaymentModeChange
from ledger.services import ledger_charge
from tests.factories import AccountFactory

from .helpers import account_url


def test_convert_to_credit_limit_with_reason_records_history(billing, billing_user, prepaid):
    ledger_charge(account_id=prepaid.pk, amount="30", idempotency_key="c1")
    response = billing.post(
        account_url(prepaid, "convert"),
        {
            "payment_mode": PaymentMode.CREDIT_LIMIT,
            "credit_limit": "500",
            "credit_limit_scope": CreditLimitScope.MONTHLY_UNBILLED,
            "reason": "Signed the annual contract",
        },
    )
    assert response.status_code == 302
    assert response.url == account_url(prepaid)

    account = BillingAccount.objects.get(pk=prepaid.pk)
    assert account.payment_mode == PaymentMode.CREDIT_LIMIT
    assert account.credit_limit == Decimal("500")
    assert account.credit_limit_scope == CreditLimitScope.MONTHLY_UNBILLED
    change = PaymentModeChange.objects.get(account=account)
    assert (change.from_mode, change.to_mode) == (PaymentMode.PREPAID, PaymentMode.CREDIT_LIMIT)
    assert change.changed_by == billing_user
    assert change.reason == "Signed the annual contract"
    assert change.balance_at_change == Decimal("70")

    page = billing.get(response.url).content.decode()
    assert "is now credit limit with a credit limit of 500.00 USD" in page
    assert "Signed the annual contract" in page


def test_convert_to_credit_limit_without_a_limit_is_a_form_error_and_changes_nothing(
    billing, prepaid
):
    response = billing.post(
        account_url(prepaid, "convert"),
        {"payment_mode": PaymentMode.CREDIT_LIMIT, "credit_limit": "", "reason": "Why not"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "credit limit greater than zero" in " ".join(form.errors["credit_limit"])
    assert "credit limit greater than zero" in response.content.decode()
    account = BillingAccount.objects.get(pk=prepaid.pk)
    assert account.payment_mode == PaymentMode.PREPAID
    assert not PaymentModeChange.objects.exists()


def test_convert_without_a_reason_is_refused(billing, prepaid):
    response = billing.post(
        account_url(prepaid, "convert"), {"payment_mode": PaymentMode.POSTPAID, "reason": " "}
    )
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert BillingAccount.objects.get(pk=prepaid.pk).payment_mode == PaymentMode.PREPAID


def test_convert_limit_in_prepaid_mode_is_blamed_on_the_limit_field(billing, prepaid):
    response = billing.post(
        account_url(prepaid, "convert"),
        {"payment_mode": PaymentMode.POSTPAID, "credit_limit": "10", "reason": "Mixed up"},
    )
    assert "only in credit_limit mode" in " ".join(response.context["form"].errors["credit_limit"])
    assert not PaymentModeChange.objects.exists()


def test_convert_credit_limit_back_to_prepaid_drops_the_limit(billing, db):
    account = AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")
    response = billing.post(
        account_url(account, "convert"),
        {"payment_mode": PaymentMode.PREPAID, "reason": "Contract ended"},
    )
    assert response.status_code == 302
    account = BillingAccount.objects.get(pk=account.pk)
    assert (account.payment_mode, account.credit_limit) == (PaymentMode.PREPAID, None)


def test_convert_page_is_403_without_the_permission(viewer, prepaid):
    assert viewer.get(account_url(prepaid, "convert")).status_code == 403
    response = viewer.post(
        account_url(prepaid, "convert"),
        {"payment_mode": PaymentMode.POSTPAID, "reason": "Sneaky"},
    )
    assert response.status_code == 403
    assert BillingAccount.objects.get(pk=prepaid.pk).payment_mode == PaymentMode.PREPAID


def test_convert_page_shows_the_current_mode_and_figures(billing, prepaid):
    response = billing.get(account_url(prepaid, "convert"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "100.00" in html
    assert response.context["form"].initial["payment_mode"] == PaymentMode.PREPAID
