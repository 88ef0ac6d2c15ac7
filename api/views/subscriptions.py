"""Plans and subscriptions (filled in by the subscriptions work)."""

urlpatterns: list = []
