"""The account page's service-backed pages: convert mode, block credit, charge, pay.

Each view checks its permission itself (403, not only a hidden button), hands the input
to one service and shows a `DomainError` on the field it names; nothing else changes.
"""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse

from accounts.services import (
    account_block_credit,
    account_convert_mode,
    account_unblock_credit,
)
from billing_site.exceptions import DomainError, IdempotencyConflict
from ledger.selectors import account_figures
from ledger.services import ledger_charge, ledger_receive_payment

from .display import amount_text, figure_cards, mode_summary
from .forms import (
    ChargeForm,
    ConvertModeForm,
    PaymentForm,
    ReasonForm,
    new_key,
    show_domain_error,
)
from .views import get_viewable, render_action, require_perm


class AccountActionsMixin:
    """Mixed into `BillingAccountAdmin`; URLs are `admin:accounts_<action>`."""

    def get_urls(self):
        def view(fn):
            return self.admin_site.admin_view(fn)

        return [
            path("<path:object_id>/convert/", view(self.convert_view), name="accounts_convert"),
            path(
                "<path:object_id>/block-credit/",
                view(self.block_credit_view),
                name="accounts_block_credit",
            ),
            path(
                "<path:object_id>/unblock-credit/",
                view(self.unblock_credit_view),
                name="accounts_unblock_credit",
            ),
            path("<path:object_id>/charge/", view(self.charge_view), name="accounts_charge"),
            path("<path:object_id>/payment/", view(self.payment_view), name="accounts_payment"),
            *super().get_urls(),
        ]

    def _account_url(self, account):
        return reverse("admin:accounts_billingaccount_change", args=[account.pk])

    def convert_view(self, request, object_id):
        account = get_viewable(self, request, object_id)
        require_perm(request, "accounts.convert_payment_mode")
        if request.method == "POST":
            form = ConvertModeForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    converted = account_convert_mode(
                        account_id=account.pk,
                        payment_mode=data["payment_mode"],
                        credit_limit=data["credit_limit"],
                        credit_limit_scope=data["credit_limit_scope"] or None,
                        reason=data["reason"],
                        changed_by=request.user,
                    )
                except DomainError as exc:
                    show_domain_error(form, exc)
                else:
                    self._report_conversion(request, account, converted)
                    return HttpResponseRedirect(self._account_url(account))
        else:
            form = ConvertModeForm(
                initial={
                    "payment_mode": account.payment_mode,
                    "credit_limit": account.credit_limit
                    and amount_text(account.credit_limit, account.currency).replace(",", ""),
                    "credit_limit_scope": account.credit_limit_scope,
                }
            )
        return render_action(
            self,
            request,
            title=f"Convert payment mode: {account.client.name}",
            form=form,
            submit_label="Convert",
            cancel_url=self._account_url(account),
            account=account,
            figures=figure_cards(account_figures(account.pk)),
            mode_summary=mode_summary(account),
            intro="The new mode applies at once. Converting to prepaid drops the credit "
            "limit; a negative balance stays as debt and the account cannot spend until "
            "it is topped up.",
            mode_switch=True,
        )

    def _report_conversion(self, request, before, after):
        if (before.payment_mode, before.credit_limit, before.credit_limit_scope) == (
            after.payment_mode,
            after.credit_limit,
            after.credit_limit_scope,
        ):
            messages.info(request, "The account already had that mode; nothing changed.")
            return
        messages.success(
            request,
            f"{after.client.name} is now {after.get_payment_mode_display().lower()}"
            + (
                f" with a credit limit of {amount_text(after.credit_limit, after.currency)} "
                f"{after.currency}"
                if after.credit_limit is not None
                else ""
            )
            + ". The change is in the account's history.",
        )

    def block_credit_view(self, request, object_id):
        return self._credit_view(request, object_id, block=True)

    def unblock_credit_view(self, request, object_id):
        return self._credit_view(request, object_id, block=False)

    def _credit_view(self, request, object_id, *, block):
        account = get_viewable(self, request, object_id)
        require_perm(request, "accounts.change_billingaccount")
        service = account_block_credit if block else account_unblock_credit
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                service(
                    account_id=account.pk,
                    reason=form.cleaned_data["reason"],
                    changed_by=request.user,
                )
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Credit of {account.client.name} "
                    + ("blocked: it can spend only its own funds now." if block else "unblocked."),
                )
                return HttpResponseRedirect(self._account_url(account))
        verb = "Block" if block else "Unblock"
        return render_action(
            self,
            request,
            title=f"{verb} credit: {account.client.name}",
            form=form,
            submit_label=f"{verb} credit",
            danger=block,
            cancel_url=self._account_url(account),
            account=account,
            figures=figure_cards(account_figures(account.pk)),
            mode_summary=mode_summary(account),
            intro=(
                "While blocked, the account can spend only its own positive balance; "
                "services already paid for keep running to the end of their period."
                if block
                else "The account can use its credit limit again."
            ),
        )

    def charge_view(self, request, object_id):
        return self._booking_view(request, object_id, charge=True)

    def payment_view(self, request, object_id):
        return self._booking_view(request, object_id, charge=False)

    def _booking_view(self, request, object_id, *, charge):
        account = get_viewable(self, request, object_id)
        require_perm(request, "ledger.post_charge" if charge else "ledger.receive_payment")
        form_class = ChargeForm if charge else PaymentForm
        form = form_class(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if charge:
                    booking = ledger_charge(
                        account_id=account.pk,
                        amount=data["amount"],
                        kind=data["kind"],
                        description=data["description"],
                        idempotency_key=data["idempotency_key"],
                        created_by=request.user,
                    )
                else:
                    booking = ledger_receive_payment(
                        account_id=account.pk,
                        amount=data["amount"],
                        reference=data["reference"],
                        idempotency_key=data["idempotency_key"],
                        created_by=request.user,
                    )
            except IdempotencyConflict as exc:
                # The page was submitted before with other figures: say so, and give the
                # form a fresh key so a deliberate second booking can go through.
                form = form_class({**request.POST.dict(), "idempotency_key": new_key(form)})
                form.is_valid()
                show_domain_error(form, exc)
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                self._report_booking(request, account, booking, charge=charge)
                return HttpResponseRedirect(self._account_url(account))
        return render_action(
            self,
            request,
            title=f"{'Post a charge to' if charge else 'Record a payment from'} "
            f"{account.client.name}",
            form=form,
            submit_label="Post charge" if charge else "Record payment",
            cancel_url=self._account_url(account),
            account=account,
            figures=figure_cards(account_figures(account.pk)),
            mode_summary=mode_summary(account),
        )

    def _report_booking(self, request, account, booking, *, charge):
        amount = amount_text(abs(booking.entry.amount), account.currency)
        what = "Charge" if charge else "Payment"
        if booking.replayed:
            messages.warning(
                request,
                f"This form was already submitted: the {what.lower()} of {amount} "
                f"{account.currency} was booked once (entry #{booking.entry.pk}); "
                "nothing was booked again.",
            )
            return
        usable = booking.figures.usable
        messages.success(
            request,
            f"{what} of {amount} {account.currency} booked (entry #{booking.entry.pk}). "
            f"Balance now {amount_text(booking.figures.balance, account.currency)}, usable "
            f"{amount_text(usable, account.currency)}.",
        )
