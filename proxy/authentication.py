"""DRF authentication by API key: `Authorization: Bearer ask_...`."""

from __future__ import annotations

from rest_framework import authentication, exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from autoskill_site.exceptions import InvalidInput
from proxy.auth import AuthenticationFailed, api_key_authenticate, bearer_token
from proxy.identity import SUB_USER_HEADER, acting_user
from proxy.ratelimit import RateLimited


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Every /v1 request names its user through a key; there are no anonymous calls."""

    def authenticate(self, request: Request):  # noqa: ANN201
        header = request.headers.get("Authorization", "")
        if not header:
            return None  # no key: let the session try (the browser app)
        try:
            api_key = api_key_authenticate(secret=bearer_token(header))
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc
        except RateLimited as exc:
            # As an APIException DRF marks the request anonymous before answering, so
            # nothing (the browsable renderer) authenticates, and counts, it again.
            throttled = exceptions.Throttled(detail=exc.message)
            throttled.wait = exc.decision.retry_after
            raise throttled from exc
        requested = request.headers.get(SUB_USER_HEADER)
        if not requested and api_key.can_act_for_users:
            body = request.data if isinstance(request.data, dict) else {}
            requested = body.get("user")
        try:
            return acting_user(api_key=api_key, requested=requested), api_key
        except InvalidInput as exc:
            raise exceptions.ValidationError({"user": exc.message}) from exc

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="autoskill"'


# Keys for programs, the session for the browser app (DRF enforces CSRF on it). The key
# class comes first so a 401 names the Bearer scheme and an explicit key wins.
API_AUTHENTICATION = [ApiKeyAuthentication, SessionAuthentication]
