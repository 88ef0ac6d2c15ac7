"""What every API view shares: key auth, scope first (404), permission second (403)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated

from billing_site.exceptions import NotFound

from ..idempotency import HEADER, idempotent
from ..parsers import BodyTooLarge, content_length, upload_limit
from ..permissions import HasActionPermission
from ..serializers.errors import ErrorSerializer


def idempotency_parameter(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=required,
        description=(
            "A unique string per operation (a UUID). One key, one outcome: sending the same "
            "key with the same body returns the first answer again and books nothing new, "
            "whether it was a success or a refusal decided against the books (402, 400 "
            "ceiling_exceeded, 409 invalid_transition); after a top-up, retry a refused spend "
            "with a new key. The same key with another body or path is 409 "
            "idempotency_conflict. Answers that decided nothing (400 invalid, 403, 404, 500) "
            "are not kept: retry those with the same key." + ("" if required else " Optional here.")
        ),
    )


def errors(*codes: int) -> dict:
    """Error answers for the schema (401 and 403 always): every one has the same body."""
    return {code: OpenApiResponse(ErrorSerializer) for code in sorted({401, 403, *codes})}


class ApiView(GenericAPIView):
    """A view whose action needs `required_permission` (see `HasActionPermission`)."""

    permission_classes = [IsAuthenticated, HasActionPermission]
    required_permission: str = ""
    client_users_may = False  # client logins may do this to their own objects
    object_scoped = False  # acts on one object from `get_queryset()` (404 before 403)
    object_label = "Object"

    def max_body_bytes(self) -> int | None:
        """The largest body this view reads; None when the view checks the size itself."""
        return upload_limit()

    def initial(self, request, *args, **kwargs):
        """Refuse a body past the limit (413) from its Content-Length, before reading it."""
        limit = self.max_body_bytes()
        length = content_length(request)
        if limit is not None and length is not None and length > limit:
            raise BodyTooLarge(limit)
        super().initial(request, *args, **kwargs)

    def get_object(self):
        pk = self.kwargs[self.lookup_url_kwarg]
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise NotFound(
                f"{self.object_label} {pk} does not exist or is not visible to this API key."
            )
        self.check_object_permissions(self.request, obj)
        return obj

    def validated(self, serializer_class, **context) -> dict:
        serializer = serializer_class(
            data=self.request.data, context={**self.get_serializer_context(), **context}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class IdempotentPostView(ApiView):
    """POST: resolve the target, then `perform` once per Idempotency-Key.

    `perform(target, ledger_key)` validates the body, calls one service and returns the
    response; it runs inside the transaction that stores the answer for replays.
    """

    idempotency_required = True

    def post(self, request, *args, **kwargs):
        target = self.get_object() if self.object_scoped else None
        return idempotent(
            request,
            required=self.idempotency_required,
            respond=lambda ledger_key: self.perform(target, ledger_key),
        )

    def perform(self, target, ledger_key: str | None):
        raise NotImplementedError
