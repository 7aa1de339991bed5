"""The OpenAI error envelope, used by every /v1 path: {"error": {message, type, param, code}}."""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django import db
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from autoskill_site.exceptions import ApplicationError

# What a 503 for an unreachable database asks clients to wait before retrying.
DATABASE_RETRY_AFTER_SECONDS = 5
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """The envelope; `kind` overrides the type the status implies (OpenAI's 429s say
    `requests` or `tokens`)."""
    kind = kind or TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> JsonResponse:
    return JsonResponse(
        error_body(status, message, code=code, param=param), status=status
    )


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str | None, str]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            return _first_field_error(
                value, f"{prefix}.{name}".strip(".") if prefix else name
            )
    if isinstance(detail, list) and detail:
        return _first_field_error(detail[0], prefix)
    return (prefix or None), str(detail)


def drf_openai_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: domain and validation errors in the OpenAI envelope."""
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.status, exc.message, code=exc.code), status=exc.status
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf.ValidationError):
        param, message = _first_field_error(exc.detail)
        text = f"{param}: {message}" if param else message
        response.data = error_body(400, text, code="invalid_value", param=param)
    elif isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        response.status_code = 401
        response.data = error_body(401, str(exc.detail), code="invalid_api_key")
    elif isinstance(exc, drf.Throttled):
        # The key's rate limit (proxy/authentication.py); DRF set Retry-After.
        response.data = error_body(
            429, str(exc.detail), code="rate_limit_exceeded", kind="requests"
        )
    else:
        code = getattr(exc, "default_code", None)
        response.data = error_body(
            response.status_code, str(getattr(exc, "detail", exc)), code=code
        )
    return response


def is_v1(request: HttpRequest) -> bool:
    return request.path.startswith("/v1/") or request.path == "/v1"


def handler404(request: HttpRequest, exception: Exception | None = None):  # noqa: ANN201
    from django.views.defaults import page_not_found

    if is_v1(request):
        return error_response(404, f"Unknown path {request.path}.", code="unknown_url")
    return page_not_found(request, exception)


def handler500(request: HttpRequest):  # noqa: ANN201
    from django.views.defaults import server_error

    if is_v1(request):
        return error_response(
            500, "The server failed to handle the request.", code="internal_error"
        )
    return server_error(request)


class OpenAIErrorMiddleware:
    """Every /v1 error is an OpenAI envelope, also in DEBUG and for non-DRF responses.

    It is also where request limits apply, being ahead of everything that reads a
    body or resolves a key: an oversized body is refused from its Content-Length
    (proxy/body_limits.py, every path), and each /v1 request opens the rate-limit
    scope that authentication counts the key in (proxy/ratelimit.py).

    Sync and async capable: in an async stack a sync-only middleware would cost
    every async view (the proxy's chat path) a thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:  # noqa: ANN001
        # Imported here: both modules build on this one's envelope.
        from proxy import body_limits, ratelimit

        self.get_response = get_response
        self.limits = body_limits
        self.ratelimit = ratelimit
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # noqa: ANN204
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if refused := self.limits.refuse_oversized(request):
            return refused
        if not is_v1(request):
            return self.get_response(request)
        with self.ratelimit.rate_limit_scope(path=request.path) as scope:
            response = self.get_response(request)
        return self.ratelimit.rate_limit_annotate(
            self._envelope(request, response), scope
        )

    async def __acall__(self, request: HttpRequest):  # noqa: ANN204
        if refused := self.limits.refuse_oversized(request):
            return refused
        if not is_v1(request):
            return await self.get_response(request)
        with self.ratelimit.rate_limit_scope(path=request.path) as scope:
            response = await self.get_response(request)
        return self.ratelimit.rate_limit_annotate(
            self._envelope(request, response), scope
        )

    def _envelope(self, request: HttpRequest, response):  # noqa: ANN001, ANN202
        if not is_v1(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        messages = {
            404: f"Unknown path {request.path}.",
            405: f"Method {request.method} is not allowed here.",
        }
        message = messages.get(response.status_code, "The request failed.")
        envelope = error_response(response.status_code, message, code=None)
        # RFC 9110: a 405 names the allowed methods, a 401 the auth scheme.
        for header in ("Allow", "WWW-Authenticate"):
            if response.has_header(header):
                envelope[header] = response[header]
        return envelope

    def process_exception(self, request: HttpRequest, exception: Exception):  # noqa: ANN201
        if too_big := self.limits.too_big_exception_response(request, exception):
            return too_big
        if not is_v1(request):
            return None
        if isinstance(exception, self.ratelimit.RateLimited):
            return exception.response()
        import logging

        if isinstance(exception, db.OperationalError | db.InterfaceError):
            # Down, restarting, or no pooled connection within DATABASE_POOL_TIMEOUT:
            # transient, so a 503 the SDKs retry, and one line instead of a traceback
            # per request while it lasts.
            logging.getLogger("proxy").error(
                "Database unavailable on %s: %s", request.path, exception
            )
            response = error_response(
                503,
                "The database is unavailable right now; please retry shortly.",
                code="database_unavailable",
            )
            response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
            return response
        logging.getLogger("proxy").exception("Unhandled error on %s", request.path)
        return error_response(
            500, "The server failed to handle the request.", code="internal_error"
        )
