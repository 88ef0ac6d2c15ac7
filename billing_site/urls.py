from django.contrib import admin
from django.urls import include, path

from .views import healthz, start_page

urlpatterns = [
    path("", start_page, name="start"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("portal/", include("portal.urls")),
    path("healthz", healthz, name="healthz"),
]

# JSON under /api/, Django's HTML pages elsewhere (see billing_site.views).
handler400 = "billing_site.views.bad_request"
handler403 = "billing_site.views.permission_denied"
handler404 = "billing_site.views.page_not_found"
handler500 = "billing_site.views.server_error"
