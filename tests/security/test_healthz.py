"""`/healthz`: 200 when the database answers; 503 with nothing of the error when not."""

import logging

import pytest
from django.db import OperationalError, connection

DATABASE_ERROR = (
    'connection to server at "db.internal" (10.1.2.3), port 5432 failed: FATAL:  '
    'password authentication failed for user "billing"'
)


@pytest.mark.django_db
def test_healthz_is_200_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_without_the_database_error_and_logs_it(client, monkeypatch, caplog):
    def unreachable():
        raise OperationalError(DATABASE_ERROR)

    monkeypatch.setattr(connection, "cursor", unreachable)

    with caplog.at_level(logging.ERROR):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    for secret in ("db.internal", "10.1.2.3", "billing", "password", "FATAL"):
        assert secret not in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert DATABASE_ERROR in caplog.text  # the operator still finds out why
