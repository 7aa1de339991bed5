"""DRF authentication by API key: `Authorization: Bearer ask_...`."""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from proxy.auth import AuthenticationFailed, api_key_authenticate, bearer_token


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Every /v1 request names its user through a key; there are no anonymous calls."""

    def authenticate(self, request: Request):  # noqa: ANN201
        header = request.headers.get("Authorization", "")
        try:
            api_key = api_key_authenticate(secret=bearer_token(header))
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc
        return api_key.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="autoskill"'
