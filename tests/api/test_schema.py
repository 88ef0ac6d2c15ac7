import pytest
import yaml
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PATHS = [
    "/api/v1/clients/",
    "/api/v1/clients/{client_id}/users/",
    "/api/v1/accounts/",
    "/api/v1/accounts/{account_id}/",
    "/api/v1/accounts/{account_id}/mode/",
    "/api/v1/accounts/{account_id}/charges/",
    "/api/v1/accounts/{account_id}/reservations/",
    "/api/v1/reservations/{reservation_id}/commit/",
    "/api/v1/reservations/{reservation_id}/release/",
    "/api/v1/accounts/{account_id}/payments/",
]
MONEY_MOVING = PATHS[5:]


@pytest.fixture
def schema():
    response = APIClient().get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document


def test_schema_documents_every_endpoint(schema):
    assert set(PATHS) <= set(schema["paths"])


def test_schema_requires_the_idempotency_key_on_money_moving_posts(schema):
    for path in MONEY_MOVING:
        params = schema["paths"][path]["post"]["parameters"]
        header = next(p for p in params if p["name"] == "Idempotency-Key")
        assert header["in"] == "header"
        assert header["required"] is True, path


def test_schema_documents_bodies_money_and_errors(schema):
    charge = schema["paths"]["/api/v1/accounts/{account_id}/charges/"]["post"]
    assert "requestBody" in charge
    assert {"201", "400", "401", "402", "403", "404", "409"} <= set(charge["responses"])
    money = schema["components"]["schemas"]["Money"]
    assert set(money["properties"]) == {"amount", "currency"}
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"


def test_schema_as_json_on_request(schema):
    response = APIClient().get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    assert response.json()["openapi"] == schema["openapi"]


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_documents_the_errors_its_shape_can_answer(schema):
    """What schemathesis checks in CI: no status the API answers is missing here."""
    problems = []
    for name, operation in _operations(schema):
        responses = operation["responses"]
        where = {p["in"] for p in operation.get("parameters", [])}
        expected = {"401", "403"}
        if where - {"path"} or "requestBody" in operation:
            expected.add("400")
        if "path" in where:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"413", "415"}
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])):
            expected.add("409")
        if missing := expected - set(responses):
            problems.append(f"{name} lacks {sorted(missing)}")
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                body = response["content"]["application/json"]["schema"]
                if body != {"$ref": "#/components/schemas/Error"}:
                    problems.append(f"{name} {code} is not the error body")
    assert not problems, "\n".join(problems)


def test_list_operations_state_the_page_bounds(schema):
    from api.pagination import MAX_LIMIT

    listed = 0
    for name, operation in _operations(schema):
        bounds = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
        if "limit" not in bounds:
            continue
        listed += 1
        assert bounds["limit"] == {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, name
        assert bounds["offset"]["minimum"] == 0 and bounds["offset"]["maximum"] == 2**63 - 1
        assert "400" in operation["responses"], name
    assert listed >= 6


def test_the_idempotency_key_is_described_as_the_api_takes_it(schema):
    from api.models import MAX_IDEMPOTENCY_KEY_LENGTH

    operation = schema["paths"]["/api/v1/accounts/{account_id}/charges/"]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")

    assert header["schema"]["minLength"] == 1
    assert header["schema"]["maxLength"] == MAX_IDEMPOTENCY_KEY_LENGTH
    optional = schema["paths"]["/api/v1/clients/"]["post"]
    header = next(p for p in optional["parameters"] if p["name"] == "Idempotency-Key")
    assert not header.get("required", False)
    assert header["schema"]["minLength"] == 0  # an empty header is no key, as if absent


def test_request_bodies_say_which_strings_may_not_be_blank(schema):
    """Request components are their own: a client's name, a plan's code are never empty."""
    components = schema["components"]["schemas"]
    assert components["ClientCreateInputRequest"]["properties"]["name"]["minLength"] == 1
    assert components["PlanCreateInputRequest"]["properties"]["code"]["minLength"] == 1
    assert "minLength" not in components["Client"]["properties"]["name"]


def test_a_portal_login_without_an_email_answers_as_the_schema_says(schema, staff_api, account):
    """The login's email may be empty; the answer's schema must allow what is answered."""
    from django.contrib.auth.models import Permission

    from tests.factories import staff_user

    from .conftest import client_for

    user = staff_user("Billing staff")
    user.user_permissions.add(Permission.objects.get(codename="add_clientuser"))
    response = client_for(user).post(
        f"/api/v1/clients/{account.client_id}/users/",
        {"username": "no-email", "password": "a long enough passphrase 42"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["email"] == ""
    email = schema["components"]["schemas"]["ClientUser"]["properties"]["email"]
    assert email.get("format") != "email", "an empty email is not an email address"
