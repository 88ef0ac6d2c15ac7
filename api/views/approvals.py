"""System settings and the manual-operations queue (filled in by the approvals work)."""

urlpatterns: list = []
