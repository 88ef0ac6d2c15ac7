"""Every write to API keys: making, revoking and recording the use of a key."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing_site.exceptions import InvalidInput, NotFound

from .models import ApiKey

PREFIX_BYTES = 6  # 12 hex characters: the public, indexed half of a key
SECRET_BYTES = 32  # 256 random bits
# Recording every use would turn each API call into a write on the key row; a minute's
# resolution is all an operator needs to see which keys are alive.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """Make a key for `user`; return it with the raw key, which is never stored.

    The raw key is `<prefix>.<secret>`; the prefix finds the row, the hash proves the
    secret.
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Name the key after what will use it.", field="name")
    for _ in range(5):
        prefix = secrets.token_hex(PREFIX_BYTES)
        raw_key = f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    user=user, name=name[:100], prefix=prefix, key_hash=hash_key(raw_key)
                )
        except IntegrityError:
            continue  # a prefix collision: draw again
        return key, raw_key
    raise RuntimeError("Could not draw a unique API key prefix.")


def api_key_revoke(*, key_id: int) -> ApiKey:
    """Revoke a key for good; revoking twice keeps the first revocation time."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
        if key is None:
            raise NotFound(f"API key {key_id} does not exist.", field="key")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
    return key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The live key matching `raw_key` (its user loaded), or None; records the use."""
    prefix, dot, secret = (raw_key or "").partition(".")
    if not (dot and prefix and secret):
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(raw_key)):
        return None
    if key.revoked_at is not None or not key.user.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
