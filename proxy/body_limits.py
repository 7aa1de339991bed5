"""The largest request body each path takes, refused from Content-Length before any reading.

Daphne hands Django the whole body and Django spools it to a temporary file before
the middleware runs; whatever reads it next (DRF's parsers, `request.POST`, the proxy
views) would hold it in memory. So `OpenAIErrorMiddleware` checks the declared length
here first, and answers a 413 that says which limit was passed: an OpenAI envelope
on /v1, a page elsewhere. (A reverse proxy's body limit refuses it earlier still;
README "Behind nginx".)

- /v1/chat/completions and /v1/embeddings: AUTOSKILL_PROXY_MAX_BODY_BYTES (chats carry
  images).
- Everything else (the REST API, the pages, the admin): AUTOSKILL_MAX_REQUEST_BYTES,
  by default the import upload limit plus room for the multipart envelope, since
  imports are the largest bodies the app takes; their own checks give the more
  specific message below it.

A body sent without Content-Length (chunked) is measured where it is read: the proxy
views read at most limit + 1 bytes, and Django's DATA_UPLOAD_MAX_MEMORY_SIZE (the same
ceiling) stops `request.body` and form parsing with RequestDataTooBig, which
`too_big_exception_response` turns into the same 413.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from proxy.errors import error_response, is_v1

__all__ = ["body_limit", "refuse_oversized", "too_big_exception_response"]

PROXY_PATHS = frozenset({"/v1/chat/completions", "/v1/embeddings"})
PROXY_SETTING = "AUTOSKILL_PROXY_MAX_BODY_BYTES"
GENERAL_SETTING = "AUTOSKILL_MAX_REQUEST_BYTES"
DEFAULT_LIMIT = 20_000_000
PAGE_TEMPLATE = "request_too_large.html"


def body_limit(path: str) -> tuple[int, str]:
    """(bytes, setting name) of the largest body `path` accepts; read per request."""
    name = PROXY_SETTING if path.rstrip("/") in PROXY_PATHS else GENERAL_SETTING
    return int(getattr(settings, name, DEFAULT_LIMIT)), name


def _declared_length(request: HttpRequest) -> int:
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isdigit() else 0


def refuse_oversized(request: HttpRequest) -> HttpResponse | None:
    """The 413 for a body declared larger than its path's limit, else None."""
    limit, name = body_limit(request.path)
    length = _declared_length(request)
    if length <= limit:
        return None
    return _too_large(request, limit=limit, setting=name, length=length)


def too_big_exception_response(
    request: HttpRequest, exception: Exception
) -> HttpResponse | None:
    """What a view's RequestDataTooBig or too-many-fields error answers (else None).

    Django would answer these with a bare 400 page, and under DRF they escape as a 500.
    """
    if isinstance(exception, RequestDataTooBig):
        # Only Django's own readers raise it; their limit is DATA_UPLOAD_MAX_MEMORY_SIZE,
        # which the settings tie to AUTOSKILL_MAX_REQUEST_BYTES.
        limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
        return _too_large(request, limit=limit, setting=GENERAL_SETTING, length=None)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent) and is_v1(request):
        return error_response(
            400,
            "The form has more fields or files than this server accepts "
            "(DATA_UPLOAD_MAX_NUMBER_FIELDS / DATA_UPLOAD_MAX_NUMBER_FILES).",
            code="too_many_fields",
        )
    return None


def _too_large(
    request: HttpRequest, *, limit: int, setting: str, length: int | None
) -> HttpResponse:
    size = f"is {length} bytes" if length is not None else "is too large"
    if is_v1(request):
        code = "request_too_large" if setting == PROXY_SETTING else "payload_too_large"
        return error_response(
            413,
            f"The request body {size}; the limit is {limit} bytes ({setting}).",
            code=code,
        )
    # Rendered without the request's user (this runs before authentication), so the
    # page needs no database and is safe on the event loop.
    html = render_to_string(
        PAGE_TEMPLATE,
        {"size": _megabytes(length) if length is not None else None,
         "limit": _megabytes(limit), "back": request.path},
    )  # fmt: skip
    response = HttpResponse(html, status=413)
    # The pages' strict policy (proxy/pages.py); imported late, pages import models.
    from proxy.pages import CONTENT_SECURITY_POLICY

    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
