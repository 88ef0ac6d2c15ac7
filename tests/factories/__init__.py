"""Test data built through the services, never by writing state fields by hand."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import BillingAccount, CreditLimitScope, PaymentMode
from accounts.services import account_create
from ledger.services import ledger_receive_payment


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or ():
            self.groups.add(Group.objects.get(name=name))
        if create:
            self.save()


def staff_user(*groups, **kwargs):
    """A staff user in the named groups (`Billing staff`, `Managers`)."""
    return UserFactory(is_staff=True, groups=groups, **kwargs)


class AccountFactory(factory.Factory):
    """`AccountFactory(payment_mode="credit_limit", credit_limit="100", funds="50")`."""

    class Meta:
        model = BillingAccount

    name = factory.Sequence(lambda n: f"Client {n}")
    email = factory.Sequence(lambda n: f"billing{n}@client.example")
    currency = "USD"
    payment_mode = PaymentMode.PREPAID
    credit_limit = None
    credit_limit_scope = CreditLimitScope.TOTAL_DEBT
    payment_term_days = 14

    @classmethod
    def _create(cls, model_class, *args, funds=None, **kwargs):
        account = account_create(**kwargs)
        if funds is not None and Decimal(funds) > 0:
            ledger_receive_payment(
                account_id=account.pk, amount=funds, idempotency_key=f"initial-funds-{account.pk}"
            )
        return account

    _build = _create
