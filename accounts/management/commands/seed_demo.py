"""`manage.py seed_demo`: a demo data set built through the services, safe to run again.

Everything is found again by a stable name (clients, users) or idempotency key (entries,
holds), so a second run books nothing twice and creates no rows. Each section is one
method listed in `SECTIONS`, in the order the story needs (money in before prepaid
usage, usage before a mode is withdrawn); a later feature adds its own section there.
"""

import os
import random
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import (
    AccountStateChange,
    BillingAccount,
    Client,
    ClientUser,
    CreditLimitScope,
    CreditStatus,
    PaymentMode,
    PaymentModeChange,
)
from accounts.services import (
    account_block_credit,
    account_convert_mode,
    account_create,
    client_add_user,
)
from approvals.services import settings_update, system_settings
from billing_site.cycle import run_cycle
from invoicing.models import Invoice, InvoiceKind, InvoiceStatus, Payment, PaymentStatus
from invoicing.pdf import invoice_pdf
from invoicing.services import (
    invoice_approve,
    invoice_attach_receipt,
    invoice_cancel,
    invoice_issue_now,
    payment_approve,
)
from ledger.models import Entry, EntryKind, Reservation
from ledger.selectors import account_figures
from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_receive_payment,
    ledger_release,
    ledger_reserve,
)
from subscriptions.models import AddOn, Plan, Subscription
from subscriptions.services import add_on_create, plan_create, subscription_order

USAGE_CHARGES_PER_ACCOUNT = 40
HOLD_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class DemoClient:
    key: str  # stable: part of every idempotency key of this client's bookings
    name: str
    currency: str
    payment_mode: str = PaymentMode.PREPAID
    credit_limit: str | None = None
    scope: str = CreditLimitScope.TOTAL_DEBT
    monthly_charge: str | None = None  # the plan's price for the previous month
    service: str = "Hosting"
    usage: str = "Usage"

    @property
    def email(self) -> str:
        return f"billing@{self.key}.example"


CLIENTS = [
    DemoClient(
        "acme",
        "Acme Hosting",
        "USD",
        monthly_charge="19.90",
        service="Shared hosting",
        usage="Outbound traffic",
    ),
    # Was postpaid, ran up a debt, lost the postpaid mode: prepaid with a negative balance.
    DemoClient(
        "bluebird",
        "Bluebird Telecom",
        "USD",
        PaymentMode.POSTPAID,
        monthly_charge="150.00",
        service="SIP trunk",
        usage="Voice minutes",
    ),
    DemoClient(
        "cobalt",
        "Cobalt Cloud",
        "USD",
        PaymentMode.POSTPAID,
        monthly_charge="240.00",
        service="Cloud servers",
        usage="Object storage",
    ),
    DemoClient(
        "delta",
        "Delta Logistics",
        "USD",
        PaymentMode.CREDIT_LIMIT,
        credit_limit="1000",
        monthly_charge="420.00",
        service="Dedicated server",
        usage="Bandwidth",
    ),
    DemoClient(
        "everest",
        "Everest Media",
        "USD",
        PaymentMode.CREDIT_LIMIT,
        credit_limit="300",
        scope=CreditLimitScope.MONTHLY_UNBILLED,
        monthly_charge="120.00",
        service="CDN",
        usage="CDN requests",
    ),
    # Credit blocked by staff: it can spend only money it has.
    DemoClient(
        "foxglove",
        "Foxglove Retail",
        "USD",
        PaymentMode.CREDIT_LIMIT,
        credit_limit="250",
        monthly_charge="180.00",
        service="E-commerce platform",
        usage="SMS notifications",
    ),
    DemoClient(
        "granite",
        "Granite GmbH",
        "EUR",
        monthly_charge="49.00",
        service="Managed database",
        usage="Backup storage",
    ),
    DemoClient(
        "helios",
        "Helios SARL",
        "EUR",
        PaymentMode.CREDIT_LIMIT,
        credit_limit="2000",
        monthly_charge="300.00",
        service="Private cloud",
        usage="Voice minutes",
    ),
]

# (client key, payment number, amount, reference); top-ups come before usage so that
# prepaid accounts can pay for it.
PAYMENTS = [
    ("acme", 1, "500.00", "Card top-up"),
    ("cobalt", 1, "100.00", "Bank transfer CB-0412"),
    ("delta", 1, "200.00", "Bank transfer DL-7781"),
    ("everest", 1, "50.00", "Bank transfer EV-1002"),
    ("granite", 1, "250.00", "SEPA transfer GR-55"),
    ("helios", 1, "150.00", "SEPA transfer HE-9"),
]

CONVERSIONS = [
    (
        "bluebird",
        PaymentMode.PREPAID,
        "Postpaid withdrawn after two late payments; the debt stays on the balance.",
    ),
]

CREDIT_BLOCKS = [
    ("foxglove", "Payment promise broken; credit blocked until the debt is settled."),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    group: str | None = None
    superuser: bool = False
    staff: bool = True


STAFF = [
    DemoLogin("admin", "back-office-admin", "superuser", superuser=True),
    DemoLogin("billing", "back-office-billing", "billing staff", group="Billing staff"),
    DemoLogin("manager", "back-office-manager", "manager", group="Managers"),
]
PORTAL_LOGIN = DemoLogin("customer", "back-office-customer", "portal user", staff=False)
PORTAL_CLIENT = "acme"


def previous_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


@contextmanager
def booked_on(day: date, hour: int = 12):
    """Book as if it were `day`: last month's usage must carry last month's timestamps
    for the monthly run to bill it, and entries can never be re-dated afterwards."""
    moment = timezone.make_aware(datetime.combine(day, time(hour)))
    with time_machine.travel(moment, tick=False):
        yield


# A client whose invoice of two months ago stays unpaid: overdue, credit blocked by the
# overdue rule; and one who paid that older invoice.
OLDER_MONTH = [
    ("delta", "420.00", "Dedicated server"),
    ("helios", "300.00", "Private cloud"),
]
# (client key, payment number, which invoice, reference): paid five days after issue.
INVOICE_PAYMENTS = [
    ("helios", 2, "older", "SEPA transfer HE-7"),
]
# Last month is invoiced with "external system generates invoices" on: the ERP then
# approves some invoices (one with its own total, including its tax, and its PDF),
# confirms one payment, and leaves others waiting (closed, no due date).
ERP_APPROVALS = [  # (client key, external total or None, days to pay)
    ("helios", None, 14),
    ("everest", "165.68", 10),
    ("cobalt", None, 30),
]
ERP_PAID = ["everest"]
ADD_ONS = [("backup", "Daily backups", "5.00")]
# (code, name, monthly price, currency, charging, trial days, add-on codes). A plan is
# sold in its currency to the accounts keeping their books in it: the SIP trunk comes in
# dollars and in euros. The backup add-on has no currency: priced in each account's own.
PLANS = [
    ("web-basic", "Web hosting Basic", "9.90", "USD", "prepay", 14, ["backup"]),
    ("web-pro", "Web hosting Pro", "29.90", "EUR", "prepay", 14, ["backup"]),
    ("sip-trunk", "SIP trunk, 30 channels", "150.00", "USD", "postpay", 0, []),
    ("sip-trunk-eur", "SIP trunk, 30 channels (EUR)", "150.00", "EUR", "postpay", 0, []),
    ("cloud-vm", "Cloud VM, 4 vCPU", "80.00", "USD", "postpay", 30, ["backup"]),
]
# A demo database seeded before plans had a currency ordered the euro trunk as the one
# SIP trunk plan: that order is the same order, not one to place again.
SAME_ORDER_AS = {"sip-trunk-eur": "sip-trunk"}
# Ordered in automatic approval mode.
ORDERS = [
    ("acme", "web-basic", False),
    ("cobalt", "sip-trunk", False),
    ("cobalt", "cloud-vm", False),
    ("granite", "web-pro", False),
]
# Ordered after the setting switched to manual: Everest's trial passes (trials are never
# gated); Helios's first commercial postpay order waits for a manager.
MANUAL_MODE_ORDERS = [
    ("everest", "cloud-vm", True),
    ("helios", "sip-trunk-eur", False),
]
# A setup fee booked twice and invoiced by hand, then voided.
DUPLICATE_FEE = ("cobalt", "35.00", "Setup fee (duplicate)")


class Command(BaseCommand):
    help = (
        "Load a demo data set (clients in every payment mode, a month of usage, payments, "
        "holds, staff and portal logins) through the services. Safe to run again."
    )

    SECTIONS = (
        "seed_staff",
        "seed_accounts",
        "seed_older_month",
        "seed_payments",
        "seed_usage",
        "seed_monthly_charges",
        "seed_conversions",
        "seed_credit_blocks",
        "seed_reservations",
        "seed_invoices",
        "seed_subscriptions",
        "seed_portal_login",
    )

    def handle(self, *args, **options):
        self.accounts: dict[str, BillingAccount] = {}
        self.staff = {}
        self.period = previous_month(timezone.localdate())
        before = self._counts()
        with transaction.atomic():
            for section in self.SECTIONS:
                getattr(self, section)()
        self._report(before, self._counts())

    # -- sections ------------------------------------------------------------------------

    def seed_staff(self):
        User = get_user_model()
        for login in STAFF:
            user = User.objects.filter(username=login.username).first()
            if user is None:
                user = User(username=login.username, email=f"{login.username}@billing.example")
            user.is_staff = True
            user.is_superuser = login.superuser
            if not user.pk or not user.check_password(login.password):
                user.set_password(login.password)
            user.save()
            if login.group:
                user.groups.add(Group.objects.get(name=login.group))
            self.staff[login.username] = user

    def seed_accounts(self):
        for demo in CLIENTS:
            account = (
                BillingAccount.objects.select_related("client")
                .filter(client__name=demo.name)
                .first()
            )
            if account is None:
                account = account_create(
                    name=demo.name,
                    email=demo.email,
                    currency=demo.currency,
                    payment_mode=demo.payment_mode,
                    credit_limit=demo.credit_limit,
                    credit_limit_scope=demo.scope,
                    created_by=self.staff["billing"],
                )
            self.accounts[demo.key] = account

    def seed_older_month(self):
        """Two months ago: one charge for two credit clients, invoiced by the calendar on
        the 1st of last month (due in their payment term), as beat would have done.

        It comes first so the story runs forward: the invoices exist before last month's
        money arrives, and that money pays them as it would have then.
        """
        last_month_start = self.period[0]
        older_start = self._older_start()
        for key, amount, service in OLDER_MONTH:
            with booked_on(older_start + timedelta(days=9)):
                ledger_charge(
                    account_id=self.accounts[key].pk,
                    amount=amount,
                    description=f"{service}, {older_start:%B %Y}",
                    period_start=older_start,
                    period_end=last_month_start - timedelta(days=1),
                    idempotency_key=f"demo:{key}:plan:0",
                )
        for day in (last_month_start, last_month_start + timedelta(days=1)):
            with booked_on(day, hour=0):
                run_cycle(day)

    def _older_start(self) -> date:
        return (self.period[0] - timedelta(days=1)).replace(day=1)

    def seed_payments(self):
        for key, number, amount, reference in PAYMENTS:
            with booked_on(self.period[0], hour=9):
                self._receive(key, number, amount, reference)

    def _receive(self, key, number, amount, reference):
        ledger_receive_payment(
            account_id=self.accounts[key].pk,
            amount=amount,
            reference=reference,
            idempotency_key=f"demo:{key}:payment:{number}",
            created_by=self.staff["billing"],
        )

    def seed_usage(self):
        """Many small metered charges with six decimals, one day of last month each."""
        start, end = self.period
        days = (end - start).days + 1
        for demo in CLIENTS:
            prices = random.Random(demo.key)  # the same amounts on every run
            for number in range(1, USAGE_CHARGES_PER_ACCOUNT + 1):
                day = start + timedelta(days=(number * 7) % days)
                amount = Decimal(prices.randint(1_000, 900_000)).scaleb(-6)
                with booked_on(day):
                    ledger_charge(
                        account_id=self.accounts[demo.key].pk,
                        amount=amount,
                        kind=EntryKind.USAGE,
                        description=f"{demo.usage}, {day:%Y-%m-%d}",
                        period_start=day,
                        period_end=day,
                        idempotency_key=f"demo:{demo.key}:usage:{number}",
                    )

    def seed_monthly_charges(self):
        start, end = self.period
        for demo in CLIENTS:
            if demo.monthly_charge is None:
                continue
            with booked_on(start, hour=0):
                ledger_charge(
                    account_id=self.accounts[demo.key].pk,
                    amount=demo.monthly_charge,
                    kind=EntryKind.CHARGE,
                    description=f"{demo.service}, {start:%B %Y}",
                    period_start=start,
                    period_end=end,
                    idempotency_key=f"demo:{demo.key}:plan:1",
                )

    def seed_conversions(self):
        for key, mode, reason in CONVERSIONS:
            self.accounts[key] = account_convert_mode(
                account_id=self.accounts[key].pk,
                payment_mode=mode,
                reason=reason,
                changed_by=self.staff["billing"],
            )

    def seed_credit_blocks(self):
        for key, reason in CREDIT_BLOCKS:
            account = BillingAccount.objects.get(pk=self.accounts[key].pk)
            if account.credit_status != CreditStatus.BLOCKED:
                account = account_block_credit(
                    account_id=account.pk, reason=reason, changed_by=self.staff["billing"]
                )
            self.accounts[key] = account

    def seed_reservations(self):
        """One hold of each kind an operator meets: pending, committed, released."""
        ledger_reserve(
            account_id=self.accounts["acme"].pk,
            amount="2.500000",
            description="Call in progress to +1 555 0100",
            expires_in=HOLD_SECONDS,
            idempotency_key="demo:acme:hold:1",
        )
        committed = ledger_reserve(
            account_id=self.accounts["delta"].pk,
            amount="15.000000",
            description="VM provisioning",
            expires_in=HOLD_SECONDS,
            idempotency_key="demo:delta:hold:1",
        )
        ledger_commit(reservation_id=committed.reservation.pk, amount="12.345678")
        released = ledger_reserve(
            account_id=self.accounts["granite"].pk,
            amount="5.000000",
            description="Conference call, cancelled",
            expires_in=HOLD_SECONDS,
            idempotency_key="demo:granite:hold:1",
        )
        ledger_release(reservation_id=released.reservation.pk, settled_by=self.staff["billing"])

    def seed_invoices(self):
        """Let the billing calendar turn the usage into invoices, as beat would have.

        The older month's invoices (see `seed_older_month`): one client pays its invoice
        before the due date, the other leaves it unpaid, and it goes overdue. Last month:
        everyone's usage, billed on the 1st of this month (statements for prepaid, no due
        date for postpaid). Today's run marks what is past due. A manual invoice goes to
        the prepaid client with a debt, and a duplicate fee is invoiced by hand and voided.
        Everything is booked in the order it happened: a payment before the run of a later
        day, so an invoice paid in time is never marked overdue first.
        """
        last_month_start = self.period[0]
        today = timezone.localdate()
        self._pay_invoices("older", today)
        if not Invoice.objects.filter(period_start=last_month_start).exists():
            settings_update(changed_by=self.staff["admin"], external_invoicing=True)
        with booked_on(today.replace(day=1), hour=0):
            run_cycle(today.replace(day=1))
        self._pay_invoices("last", today)
        run_cycle(today)  # closes yesterday's ERP invoices; marks what is past due
        self._erp_decisions(last_month_start, today)
        if system_settings().external_invoicing:
            settings_update(changed_by=self.staff["admin"], external_invoicing=False)

        debtor = self.accounts["bluebird"]
        if not Invoice.objects.filter(account=debtor, kind=InvoiceKind.MANUAL).exists():
            invoice_issue_now(account_id=debtor.pk, issued_by=self.staff["billing"])

        key, amount, description = DUPLICATE_FEE
        account = self.accounts[key]
        if not Invoice.objects.filter(account=account, kind=InvoiceKind.MANUAL).exists():
            ledger_charge(
                account_id=account.pk,
                amount=amount,
                description=description,
                idempotency_key=f"demo:{key}:setup:2",
            )
            duplicate = invoice_issue_now(account_id=account.pk, issued_by=self.staff["billing"])
            invoice_cancel(
                invoice_id=duplicate.pk,
                reason="The setup fee was billed twice.",
                cancelled_by=self.staff["manager"],
            )
        for key, demo_account in self.accounts.items():
            self.accounts[key] = BillingAccount.objects.get(pk=demo_account.pk)

    def _pay_invoices(self, which: str, today: date):
        """The clients who pay an invoice of `which` month, five days after its issue (or
        today, if that is sooner): what is still outstanding on it then."""
        start = {"older": self._older_start(), "last": self.period[0]}[which]
        for key, number, month, reference in INVOICE_PAYMENTS:
            if month != which:
                continue
            account = self.accounts[key]
            if Entry.objects.filter(
                account=account, idempotency_key=f"demo:{key}:payment:{number}"
            ).exists():
                continue  # paid on an earlier run
            invoice = Invoice.objects.get(
                account=account, period_start=start, kind=InvoiceKind.CREDIT
            )
            if invoice.outstanding > 0:
                with booked_on(min(invoice.issued_on + timedelta(days=5), today)):
                    self._receive(key, number, invoice.outstanding, reference)

    def _erp_decisions(self, period_start, today):
        """What the ERP does through the API, done here through the same services."""
        manager = self.staff["manager"]
        for key, external_total, days in ERP_APPROVALS:
            invoice = Invoice.objects.get(account=self.accounts[key], period_start=period_start)
            if invoice.status != InvoiceStatus.CLOSED:
                continue
            invoice_approve(
                invoice_id=invoice.pk,
                due_date=today + timedelta(days=days),
                external_total=external_total,
                external_currency=invoice.currency if external_total else None,
                approved_by=manager,
            )
            if external_total:
                document = ContentFile(invoice_pdf(Invoice.objects.get(pk=invoice.pk)), "erp.pdf")
                invoice_attach_receipt(invoice_id=invoice.pk, upload=document, attached_by=manager)
        for key in ERP_PAID:
            payment = Payment.objects.filter(
                invoice__account=self.accounts[key], invoice__period_start=period_start
            ).first()
            # On the billing day itself the ERP's invoices are still open, with no payment
            # yet: the platform closes them the next day.
            if payment is not None and payment.status == PaymentStatus.WAITING:
                payment_approve(payment_id=payment.pk, approved_by=manager)

    def seed_subscriptions(self):
        """A small catalogue, running subscriptions, and one order waiting for a manager.

        Orders go through the services in automatic approval mode; then the setting
        switches to manual and a credit client's first postpay order waits in the queue
        (its account goes under review), while another client's trial passes ungated.
        """
        for code, name, price in ADD_ONS:
            if not AddOn.objects.filter(code=code).exists():
                add_on_create(code=code, name=name, price=price)
        for code, name, price, currency, charging, trial_days, add_ons in PLANS:
            if not Plan.objects.filter(code=code).exists():
                plan_create(
                    code=code,
                    name=name,
                    price=price,
                    currency=currency,
                    charging=charging,
                    trial_days=trial_days,
                    add_ons=add_ons,
                )
        for key, plan, trial in ORDERS:
            account = self.accounts[key]
            if not self._has_ordered(account, plan):
                subscription_order(
                    account_id=account.pk, plan=plan, trial=trial, ordered_by=self.staff["billing"]
                )
        if system_settings().postpaid_permission_mode != "manual":
            settings_update(changed_by=self.staff["admin"], postpaid_permission_mode="manual")
        for key, plan, trial in MANUAL_MODE_ORDERS:
            account = self.accounts[key]
            if not self._has_ordered(account, plan):
                subscription_order(
                    account_id=account.pk, plan=plan, trial=trial, ordered_by=self.staff["billing"]
                )
        for key, demo_account in self.accounts.items():
            self.accounts[key] = BillingAccount.objects.get(pk=demo_account.pk)

    @staticmethod
    def _has_ordered(account, plan: str) -> bool:
        codes = {plan, SAME_ORDER_AS.get(plan, plan)}
        return Subscription.objects.filter(account=account, plan__code__in=codes).exists()

    def seed_portal_login(self):
        User = get_user_model()
        login = PORTAL_LOGIN
        client = self.accounts[PORTAL_CLIENT].client
        user = User.objects.filter(username=login.username).first()
        if user is None:
            client_add_user(
                client_id=client.pk,
                username=login.username,
                email=f"{login.username}@{PORTAL_CLIENT}.example",
                password=login.password,
            )
            return
        if not user.check_password(login.password):
            user.set_password(login.password)
            user.save(update_fields=["password"])
        ClientUser.objects.get_or_create(user=user, defaults={"client": client})

    # -- report --------------------------------------------------------------------------

    @staticmethod
    def _counts():
        return {
            "clients": Client.objects.count(),
            "accounts": BillingAccount.objects.count(),
            "entries": Entry.objects.count(),
            "holds": Reservation.objects.count(),
            "mode changes": PaymentModeChange.objects.count(),
            "state changes": AccountStateChange.objects.count(),
            "invoices": Invoice.objects.count(),
            "subscriptions": Subscription.objects.count(),
            "users": get_user_model().objects.count(),
        }

    def _report(self, before, after):
        created = {name: after[name] - before[name] for name in after}
        if any(created.values()):
            made = ", ".join(f"{count} {name}" for name, count in created.items() if count)
            self.stdout.write(self.style.SUCCESS(f"Demo data created: {made}."))
        else:
            self.stdout.write("Demo data already present; nothing new was created.")

        self.stdout.write("\nAccounts:")
        for demo in CLIENTS:
            account = self.accounts[demo.key]
            figures = account_figures(account.pk)
            usable = "unlimited" if figures.usable is None else figures.usable
            self.stdout.write(
                f"  {demo.name:<18} {account.currency}  {account.payment_mode:<13}"
                f" balance {figures.balance:>14}  usable {usable:>14}"
            )

        # `make run` serves on $PORT (8000 by default); read when the command runs.
        site = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        self.stdout.write(f"\nLogins (the start page is {site}/):\n")
        self.stdout.write(f"  {'login':<10} {'password':<22} {'signs in at':<32} role")
        for login in [*STAFF, PORTAL_LOGIN]:
            role = login.role
            if login is PORTAL_LOGIN:
                role = f"{role} of {self.accounts[PORTAL_CLIENT].client.name}"
            where = f"{site}/admin/" if login.staff else f"{site}/portal/"
            self.stdout.write(f"  {login.username:<10} {login.password:<22} {where:<32} {role}")
