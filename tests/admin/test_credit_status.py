"""Blocking and unblocking credit from the account page, with a reason."""

from accounts.models import AccountStateChange, BillingAccount, CreditStatus, PaymentMode
from tests.factories import AccountFactory

from .helpers import account_url


def credit_account():
    return AccountFactory(payment_mode=PaymentMode.CREDIT_LIMIT, credit_limit="100")


def test_block_then_unblock_credit_records_who_and_why(billing, billing_user, db):
    account = credit_account()
    response = billing.post(account_url(account, "block_credit"), {"reason": "Cheque bounced"})
    assert response.status_code == 302
    assert BillingAccount.objects.get(pk=account.pk).credit_status == CreditStatus.BLOCKED

    response = billing.post(account_url(account, "unblock_credit"), {"reason": "Paid in cash"})
    assert response.status_code == 302
    assert BillingAccount.objects.get(pk=account.pk).credit_status == CreditStatus.ACTIVE

    changes = list(AccountStateChange.objects.filter(account=account).order_by("id"))
    assert [(c.to_state, c.reason, c.changed_by) for c in changes] == [
        ("blocked", "Cheque bounced", billing_user),
        ("active", "Paid in cash", billing_user),
    ]


def test_block_needs_a_reason(billing, db):
    account = credit_account()
    response = billing.post(account_url(account, "block_credit"), {"reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert BillingAccount.objects.get(pk=account.pk).credit_status == CreditStatus.ACTIVE


def test_blocking_a_prepaid_account_is_refused_and_changes_nothing(billing, prepaid):
    response = billing.post(account_url(prepaid, "block_credit"), {"reason": "Try"})
    assert response.status_code == 200
    assert "Only the active credit of a credit-limit account" in response.content.decode()
    assert BillingAccount.objects.get(pk=prepaid.pk).credit_status == CreditStatus.ACTIVE
    assert not AccountStateChange.objects.exists()


def test_block_is_403_without_change_permission(viewer, db):
    account = credit_account()
    assert viewer.post(account_url(account, "block_credit"), {"reason": "x"}).status_code == 403
    assert BillingAccount.objects.get(pk=account.pk).credit_status == CreditStatus.ACTIVE
