"""`Authorization: Token <key>` with the hashed keys of `api.ApiKey`."""

from rest_framework import authentication, exceptions

from .services import api_key_authenticate

KEYWORD = "Token"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # no key: DRF answers 401 once a permission needs a user
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be “Token <key>”, with the key in one piece."
            )
        try:
            raw_key = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        key = api_key_authenticate(raw_key=raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        return key.user, key

    def authenticate_header(self, request):
        # Naming the scheme makes DRF answer 401 (with WWW-Authenticate), not 403.
        return KEYWORD
