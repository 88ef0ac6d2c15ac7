from django.urls import path

from .views import auth, dashboard, invoices, subscriptions
from .views.base import client_required

app_name = "portal"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password/", client_required(auth.PasswordChangeView.as_view()), name="password_change"),
    path(
        "password/done/",
        client_required(auth.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("", dashboard.dashboard, name="dashboard"),
    path("top-up/", invoices.top_up, name="top_up"),
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/<int:pk>/", invoices.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", invoices.invoice_download, name="invoice_pdf"),
    path("invoices/<int:pk>/pay/", invoices.invoice_pay, name="invoice_pay"),
    path("subscriptions/", subscriptions.subscription_list, name="subscriptions"),
    path("subscriptions/order/", subscriptions.subscription_order_view, name="subscription_order"),
    path("subscriptions/<int:pk>/", subscriptions.subscription_detail, name="subscription_detail"),
]
