"""API keys and the idempotency records of money-moving requests (docs/design.md §6)."""

from django.conf import settings
from django.db import models

# Room for "api:<user id>:" in front of the client's key within the ledger's 200.
MAX_IDEMPOTENCY_KEY_LENGTH = 150


class ApiKey(models.Model):
    """A key for one integration; it acts with its user's permissions.

    Only a SHA-256 of the key is stored: the key is shown once, when it is made. The
    secret part is 256 random bits, so a fast hash is enough (no brute force is
    feasible), and lookup by the public prefix keeps authentication one indexed read.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(
        max_length=100, help_text="Who uses this key, e.g. “provisioning platform”."
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotencyRecord(models.Model):
    """The outcome of a POST sent with an `Idempotency-Key` header: its first answer.

    A success is written in the same transaction as the booking it answers, so the record
    exists exactly when the booking does; a refusal decided against the books (402, 409)
    is written after its rolled-back attempt (see `api.idempotency`). `response_body` is
    the JSON text as sent (not a JSON column: PostgreSQL's jsonb reorders keys, and a
    replay must be the same body).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical body.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_per_owner"),
        ]

    def __str__(self):
        return f"{self.method} {self.path} [{self.key}]"
