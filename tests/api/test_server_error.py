"""An unexpected error answers 500 without claiming what it cannot know.

It may come after the change committed (work queued after the commit, say), so the body
never says "nothing was changed"; it says how to retry safely instead."""

import pytest
from rest_framework.test import APIRequestFactory

from api.errors import exception_handler


@pytest.mark.django_db
def test_a_500_never_claims_that_nothing_was_changed():
    request = APIRequestFactory().post("/api/v1/accounts/1/payments/")

    response = exception_handler(RuntimeError("after the commit"), {"request": request})

    assert response.status_code == 500
    assert response.data["error"] == "server_error"
    assert "nothing was changed" not in response.data["detail"].lower()
    assert "Idempotency-Key" in response.data["detail"]
    assert "same key" in response.data["detail"]
