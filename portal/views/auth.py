"""Sign in (rate-limited), sign out, password change: Django's views, portal templates."""

from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from ..forms import PortalLoginForm


class LoginView(auth_views.LoginView):
    template_name = "portal/registration/login.html"
    authentication_form = PortalLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("portal:dashboard")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "portal/registration/password_change.html"
    success_url = reverse_lazy("portal:password_change_done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "portal/registration/password_change_done.html"
