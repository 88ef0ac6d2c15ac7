"""Every failure answers the same JSON body."""

import pytest

from api.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def test_unknown_path_is_a_json_404(staff_api):
    response = staff_api.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_missing_trailing_slash_says_so(staff_api, account):
    response = staff_api.get(f"/api/v1/accounts/{account.pk}")

    assert response.status_code == 404
    assert "slash" in response.json()["detail"]


def test_wrong_method_is_405_in_the_error_format(staff_api, account):
    response = staff_api.delete(f"/api/v1/accounts/{account.pk}/")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert set(response.json()) == {"error", "detail"}


def test_body_that_is_not_an_object_is_400(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        "[1, 2]",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert "field" not in response.json()


def test_non_json_body_is_415(staff_api, account):
    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        "amount=5",
        content_type="application/x-www-form-urlencoded",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_a_bug_answers_500_in_the_error_format_and_books_nothing(
    staff_api, account, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("api.views.ledger.ledger_charge", broken)

    response = staff_api.post(
        f"/api/v1/accounts/{account.pk}/charges/",
        {"amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "boom" not in response.json()["detail"]
    assert "boom" in caplog.text
    assert not IdempotencyRecord.objects.exists()
