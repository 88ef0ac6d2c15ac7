"""Charges, holds and payments: each view is one ledger service call."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from ledger.services import (
    ledger_charge,
    ledger_commit,
    ledger_receive_payment,
    ledger_release,
    ledger_reserve,
)

from ..selectors import reservations_visible_to
from ..serializers.accounts import AccountView
from ..serializers.ledger import (
    ChargeInput,
    CommitInput,
    EntryResultSerializer,
    EntryView,
    PaymentInput,
    ReservationInput,
    ReservationResultSerializer,
    ReservationView,
)
from .accounts import AccountActionView
from .base import IdempotentPostView, errors, idempotency_parameter

REQUIRED_KEY = [idempotency_parameter(required=True)]


def _entry_answer(booking, account, http_status=status.HTTP_201_CREATED) -> Response:
    view = EntryView(booking.entry, AccountView(account, booking.figures))
    return Response(EntryResultSerializer(view).data, status=http_status)


def _hold_answer(booking, account, http_status=status.HTTP_200_OK) -> Response:
    account_view = AccountView(account, booking.figures)
    view = ReservationView(booking.reservation, account_view, booking.entry)
    return Response(ReservationResultSerializer(view).data, status=http_status)


@extend_schema_view(
    post=extend_schema(
        summary="Charge the account",
        description="Booked only if the account's payment mode allows the spend now.",
        request=ChargeInput,
        responses={201: EntryResultSerializer, **errors(400, 402, 404, 409)},
        parameters=REQUIRED_KEY,
    )
)
class ChargeCreateView(AccountActionView):
    """Charge the account if its payment mode allows the spend now (402 if not)."""

    required_permission = "ledger.post_charge"

    def perform(self, account, ledger_key):
        data = self.validated(ChargeInput, account=account)
        booking = ledger_charge(
            account_id=account.pk,
            amount=data["amount"].amount,
            idempotency_key=ledger_key,
            description=data["description"],
            kind=data["kind"],
            created_by=self.request.user,
        )
        return _entry_answer(booking, account)


@extend_schema_view(
    post=extend_schema(
        summary="Hold usable funds for a transaction in progress",
        request=ReservationInput,
        responses={201: ReservationResultSerializer, **errors(400, 402, 404, 409)},
        parameters=REQUIRED_KEY,
    )
)
class ReservationCreateView(AccountActionView):
    """Hold usable funds until the hold is committed, released or expires."""

    required_permission = "ledger.add_reservation"

    def perform(self, account, ledger_key):
        data = self.validated(ReservationInput, account=account)
        booking = ledger_reserve(
            account_id=account.pk,
            amount=data["amount"].amount,
            idempotency_key=ledger_key,
            description=data["description"],
            expires_in=data.get("expires_in"),
            created_by=self.request.user,
        )
        return _hold_answer(booking, account, status.HTTP_201_CREATED)


@extend_schema_view(
    post=extend_schema(
        summary="Book money received",
        request=PaymentInput,
        responses={201: EntryResultSerializer, **errors(400, 404, 409)},
        parameters=REQUIRED_KEY,
    )
)
class PaymentCreateView(AccountActionView):
    """Book money received; it raises the balance and usable funds at once."""

    required_permission = "ledger.receive_payment"

    def perform(self, account, ledger_key):
        data = self.validated(PaymentInput, account=account)
        booking = ledger_receive_payment(
            account_id=account.pk,
            amount=data["amount"].amount,
            idempotency_key=ledger_key,
            reference=data["reference"],
            created_by=self.request.user,
        )
        return _entry_answer(booking, account)


class ReservationActionView(IdempotentPostView):
    required_permission = "ledger.change_reservation"
    object_scoped = True
    object_label = "Reservation"
    lookup_url_kwarg = "reservation_id"

    def get_queryset(self):
        return reservations_visible_to(self.request.user)


@extend_schema_view(
    post=extend_schema(
        summary="Commit a pending hold as a charge",
        request=CommitInput,
        responses={200: ReservationResultSerializer, **errors(400, 404, 409)},
        parameters=REQUIRED_KEY,
    )
)
class ReservationCommitView(ReservationActionView):
    """Turn a pending hold into a charge of at most the held amount."""

    def perform(self, reservation, ledger_key):
        data = self.validated(CommitInput, account=reservation.account)
        amount = data.get("amount")
        booking = ledger_commit(
            reservation_id=reservation.pk,
            amount=amount.amount if amount else None,
            settled_by=self.request.user,
        )
        return _hold_answer(booking, reservation.account)


@extend_schema_view(
    post=extend_schema(
        summary="Release a pending hold",
        request=None,
        responses={200: ReservationResultSerializer, **errors(404, 409)},
        parameters=REQUIRED_KEY,
    )
)
class ReservationReleaseView(ReservationActionView):
    """Give a pending hold back to usable funds."""

    def perform(self, reservation, ledger_key):
        booking = ledger_release(reservation_id=reservation.pk, settled_by=self.request.user)
        return _hold_answer(booking, reservation.account)
