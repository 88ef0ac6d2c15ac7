"""`Idempotency-Key`: one key, one outcome. A retried POST gets the first answer again
and books nothing new.

The outcome of a request is what the service decided: a success, or a refusal decided
against the state of the books (402 `insufficient_funds`, `credit_blocked`,
`ceiling_exceeded`; 409 `invalid_transition`). Both are stored and replayed, so a key
refused for lack of funds stays refused after a top-up (a new operation takes a new
key), and a key that booked is never answered with a refusal. Input the request itself
gets wrong (400 `invalid`), a key clash (409 `idempotency_conflict`), a 403/404 or a
500 decide nothing and are not stored: the same key may be retried.

A success is stored in the same transaction as the booking, so the record exists
exactly when the booking does. A refusal booked nothing and is stored in a transaction
of its own, after its own rolled back.

Two attempts racing with one key meet at the unique index on (owner, key): on
PostgreSQL the second insert waits for the first transaction, fails once it commits,
and the loser rolls back everything it did (a booking included) and replays the
winner's answer, whether the winner booked or was refused. Before that, the services
look the ledger key up again under the account lock before deciding a refusal, so an
attempt that waited for a booking made with its key answers with that booking. The
ledger key is derived from the header, so the ledger's own per-account unique index
protects the books even if a request slipped past this layer.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import QueryDict
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.status import is_success

from billing_site.exceptions import IdempotencyConflict, InvalidInput, InvalidTransition
from ledger.exceptions import BOOKS_REFUSALS

from .errors import domain_error_response
from .models import MAX_IDEMPOTENCY_KEY_LENGTH, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"

# Refusals that are a request's outcome: decided against the books or an object's
# state, so a retry with the key must hear them again (see the module's docstring).
STORED_REFUSALS = (*BOOKS_REFUSALS, InvalidTransition)


def ledger_key(owner_id: int, key: str) -> str:
    """The ledger's key for a request: per owner, so two callers' keys never collide."""
    return f"api:{owner_id}:{key}"


def header_key(request, *, required: bool) -> str | None:
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        if required:
            raise InvalidInput(
                f"This request moves money and needs an {HEADER} header: a unique string "
                "per operation (a UUID), sent again only to retry that same operation.",
                field=HEADER,
            )
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"The {HEADER} is at most {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters.",
            field=HEADER,
        )
    return key


def body_hash(data) -> str:
    """SHA-256 of the parsed body in a canonical form (sorted keys, no spacing).

    Parsed, not raw, so that re-serialising the same object on a retry (other key order
    or whitespace) is still the same request.
    """
    if isinstance(data, QueryDict):
        data = {key: data.getlist(key) for key in data}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, *, method: str, path: str, request_hash: str):
    if (record.method, record.path) != (method, path):
        raise IdempotencyConflict(
            f"This {HEADER} was already used for {record.method} {record.path}; "
            "use a new key for a new operation.",
            field=HEADER,
        )
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            f"This {HEADER} was already used with a different body; "
            "use a new key for a new operation.",
            field=HEADER,
        )
    return Response(
        json.loads(record.response_body),
        status=record.response_status,
        headers={REPLAY_HEADER: "true"},
    )


def _stored(owner, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(owner=owner, key=key).first()


def _store(owner, key: str, *, method: str, path: str, request_hash: str, response) -> None:
    IdempotencyRecord.objects.create(
        owner=owner,
        key=key,
        method=method,
        path=path,
        request_hash=request_hash,
        response_status=response.status_code,
        response_body=JSONRenderer().render(response.data).decode(),
    )


def idempotent(request, *, required: bool, respond: Callable[[str | None], Response]) -> Response:
    """Answer with `respond(ledger_key)` once per key; replay the stored answer after.

    `respond` gets the ledger idempotency key derived from the header (None when the
    header is optional and absent) and runs inside the transaction that stores the
    answer.
    """
    key = header_key(request, required=required)
    if key is None:
        return respond(None)
    owner = request.user
    request_facts = {
        "method": request.method,
        "path": request.path,
        "request_hash": body_hash(request.data),
    }
    record = _stored(owner, key)
    if record is not None:
        return _replay(record, **request_facts)
    try:
        with transaction.atomic():
            response = respond(ledger_key(owner.pk, key))
            if is_success(response.status_code):
                _store(owner, key, response=response, **request_facts)
        return response
    except STORED_REFUSALS as refusal:
        # Rolled back: nothing was booked. The refusal is the key's outcome unless an
        # attempt with the key stored another first (then that one is the answer).
        response = domain_error_response(refusal)
    except IntegrityError as clash:
        return _replay_winner(owner, key, request_facts, clash)
    try:
        with transaction.atomic():
            _store(owner, key, response=response, **request_facts)
    except IntegrityError as clash:
        return _replay_winner(owner, key, request_facts, clash)
    return response


def _replay_winner(owner, key: str, request_facts: dict, clash: IntegrityError) -> Response:
    """The answer of the attempt whose record took the key before this one's could."""
    record = _stored(owner, key)
    if record is None:
        raise clash  # not our unique index: a real error
    return _replay(record, **request_facts)
