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
