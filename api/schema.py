"""The OpenAPI schema's shared parts: the key authentication and the error answers.

`document_error_statuses` runs after drf-spectacular built the schema (a postprocessing
hook in SPECTACULAR_SETTINGS). Some refusals follow from an operation's shape rather
than from what it does, so they are added here for every operation that has that shape,
each with the one error body; the views declare the rest (402 for spends, 409 for
states). A client, and schemathesis in CI, can rely on every status the API answers
being in the schema.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .models import MAX_IDEMPOTENCY_KEY_LENGTH

ERROR_REF = {"$ref": "#/components/schemas/Error"}

# status: (when it applies, what it says)
SHAPE_STATUSES = {
    400: "Bad input: a parameter, a header or the body is not valid (the body names the field).",
    401: "No API key, or a key that is not valid or was revoked.",
    403: "The key's user lacks the permission for this action.",
    404: "The object does not exist or is not visible to this API key.",
    409: "The Idempotency-Key was used before with another body or path "
    "(idempotency_conflict), or the object's state does not allow the action.",
    413: "The request body is larger than the limit (request_too_large).",
    415: "The body is not in a media type this operation reads.",
}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; keys come from `manage.py create_api_token` or "
            "the admin, and act with their user's permissions.",
        }


def _statuses_for(operation: dict) -> set[int]:
    parameters = operation.get("parameters", [])
    where = {parameter["in"] for parameter in parameters}
    statuses = set()
    if operation.get("security") != [{}] and any(operation.get("security", [])):
        statuses |= {401, 403}
    if where - {"path"} or "requestBody" in operation:
        statuses.add(400)  # a path parameter that is not an id names no endpoint: 404
    if "path" in where:
        statuses.add(404)
    if any(parameter["name"] == IDEMPOTENCY_HEADER for parameter in parameters):
        statuses.add(409)
    if "requestBody" in operation:
        statuses |= {413, 415}
    return statuses


def _constrain_idempotency_header(operation: dict) -> None:
    """What `api.idempotency` accepts: printable, at most the stored length, not blank
    where the key is required (where it is optional, an empty header is no key)."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"] == IDEMPOTENCY_HEADER:
            key = "[ -~]*[!-~][ -~]*"
            required = parameter.get("required", False)
            parameter["schema"] = {
                "type": "string",
                "minLength": 1 if required else 0,
                "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
                "pattern": f"^{key}$" if required else f"^({key})?$",
            }


def document_error_statuses(result, generator, request, public):
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _constrain_idempotency_header(operation)
            responses = operation["responses"]
            for code in sorted(_statuses_for(operation)):
                responses.setdefault(
                    str(code),
                    {
                        "content": {"application/json": {"schema": ERROR_REF}},
                        "description": SHAPE_STATUSES[code],
                    },
                )
            operation["responses"] = dict(sorted(responses.items()))
    return result
