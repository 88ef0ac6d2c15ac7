from django.apps import AppConfig


class BillingSiteConfig(AppConfig):
    name = "billing_site"
    verbose_name = "Billing site"

    def ready(self):
        from django.contrib import admin

        from .throttling import ThrottledAdminAuthenticationForm

        # The admin's login page counts failures like the portal's (issue 6).
        admin.site.login_form = ThrottledAdminAuthenticationForm
