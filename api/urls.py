from csp.constants import SELF
from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from .errors import not_found_view
from .views import approvals as approval_views
from .views import payments as payment_views
from .views import subscriptions as subscription_views
from .views import webhooks as webhook_views
from .views.accounts import (
    AccountDetailView,
    AccountListView,
    AccountModeView,
    ClientCreateView,
    ClientUserCreateView,
)
from .views.invoices import (
    InvoiceApproveView,
    InvoiceDetailView,
    InvoiceListView,
    InvoicePdfView,
    InvoiceReceiptByPeriodView,
    InvoiceReceiptView,
)
from .views.ledger import (
    ChargeCreateView,
    PaymentCreateView,
    ReservationCommitView,
    ReservationCreateView,
    ReservationReleaseView,
)

app_name = "api"

# The schema and the reference pages describe the API and hold no data: readable without
# a key, so a browser opens the reference and the page loads the schema it shows.
# Both pages take Swagger UI and Redoc from the static files (drf-spectacular-sidecar),
# and start them with a script carrying the page's CSP nonce (templates/api/).
_public = {"permission_classes": [AllowAny]}
# Redoc runs its search in a web worker it starts from a blob: URL.
_redoc_worker = csp_update({"worker-src": [SELF, "blob:"]})

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(**_public), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html", **_public
        ),
        name="docs",
    ),
    path(
        "redoc/",
        _redoc_worker(
            SpectacularRedocView.as_view(
                url_name="api:schema", template_name="api/redoc.html", **_public
            )
        ),
        name="redoc",
    ),
    path("clients/", ClientCreateView.as_view(), name="client-list"),
    path("clients/<int:client_id>/users/", ClientUserCreateView.as_view(), name="client-users"),
    path("accounts/", AccountListView.as_view(), name="account-list"),
    path("accounts/<int:account_id>/", AccountDetailView.as_view(), name="account-detail"),
    path("accounts/<int:account_id>/mode/", AccountModeView.as_view(), name="account-mode"),
    path("accounts/<int:account_id>/charges/", ChargeCreateView.as_view(), name="account-charges"),
    path(
        "accounts/<int:account_id>/reservations/",
        ReservationCreateView.as_view(),
        name="account-reservations",
    ),
    path(
        "accounts/<int:account_id>/payments/",
        PaymentCreateView.as_view(),
        name="account-payments",
    ),
    path(
        "reservations/<int:reservation_id>/commit/",
        ReservationCommitView.as_view(),
        name="reservation-commit",
    ),
    path(
        "reservations/<int:reservation_id>/release/",
        ReservationReleaseView.as_view(),
        name="reservation-release",
    ),
    path("invoices/", InvoiceListView.as_view(), name="invoice-list"),
    path("invoices/<int:invoice_id>/", InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<int:invoice_id>/pdf/", InvoicePdfView.as_view(), name="invoice-pdf"),
    path(
        "invoices/<int:invoice_id>/approve/", InvoiceApproveView.as_view(), name="invoice-approve"
    ),
    path(
        "invoices/<int:invoice_id>/receipt/", InvoiceReceiptView.as_view(), name="invoice-receipt"
    ),
    path(
        "invoices/receipt/",
        InvoiceReceiptByPeriodView.as_view(),
        name="invoice-receipt-by-period",
    ),
    *payment_views.urlpatterns,
    *subscription_views.urlpatterns,
    *approval_views.urlpatterns,
    *webhook_views.urlpatterns,
    # Anything else under /api/v1/ answers a JSON 404, like the endpoints do.
    re_path(r"^.*$", not_found_view),
]
