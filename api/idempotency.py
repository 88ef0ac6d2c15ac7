"""`Idempotency-Key`: a retried POST gets the first answer and books nothing new.

The first successful answer is stored in the same transaction as the booking, so the
record exists exactly when the booking does. Only successful answers are stored: a
refused or invalid request booked nothing, so retrying it with the same key decides it
afresh (a spend refused for lack of funds may pass once the account is topped up).

Two first attempts racing with one key meet at the unique index on (owner, key): on
PostgreSQL the second insert waits for the first transaction, fails once it commits,
and the loser rolls back everything it did and replays the winner's answer. The ledger
also gets a key derived from the header, so its own per-account unique index protects
the books even if a request slipped past this layer.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import QueryDict
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.status import is_success

from billing_site.exceptions import IdempotencyConflict, InvalidInput

from .models import MAX_IDEMPOTENCY_KEY_LENGTH, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"


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
    method, path = request.method, request.path
    request_hash = body_hash(request.data)
    record = _stored(owner, key)
    if record is not None:
        return _replay(record, method=method, path=path, request_hash=request_hash)
    try:
        with transaction.atomic():
            response = respond(ledger_key(owner.pk, key))
            if is_success(response.status_code):
                IdempotencyRecord.objects.create(
                    owner=owner,
                    key=key,
                    method=method,
                    path=path,
                    request_hash=request_hash,
                    response_status=response.status_code,
                    response_body=JSONRenderer().render(response.data).decode(),
                )
    except IntegrityError:
        record = _stored(owner, key)
        if record is None:
            raise  # not our unique index: a real error
        return _replay(record, method=method, path=path, request_hash=request_hash)
    return response
