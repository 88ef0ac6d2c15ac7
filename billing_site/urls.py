from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path

from .views import start_page


def healthz(request):
    """200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "detail": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", start_page, name="start"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("portal/", include("portal.urls")),
    path("healthz", healthz, name="healthz"),
]
