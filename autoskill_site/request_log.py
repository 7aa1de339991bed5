"""One JSON line per HTTP request, and the HTTP metrics, from the same measurement.

`RequestLogMiddleware` (autoskill_site/middleware.py) opens a record when a request
arrives and closes it when the answer's last byte is out: for a streamed chat that
is when the stream ends, so the duration is what the client waited. Code deeper in
the stack that learns who is calling (the proxy's API-key check) adds that with
`annotate_request`; the middleware itself never loads a session or a key to find out.

What a line holds: method, path (never the query string, which is where clients put
tokens), the URL route, status, duration, the proxy's own overhead when the view
reported it (`x-autoskill-overhead-ms`), user id, API-key prefix and request id. No
header or body is ever read into it, and the console handler's RedactingFilter runs
over every line anyway (a key pasted into a path is still masked).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty

from autoskill_site.metrics import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    PROXY_OVERHEAD,
    method_label,
)
from extraction.redaction import PRE_REDACTED, redact_text

__all__ = ["REQUEST_ID_HEADER", "RequestRecord", "annotate_request"]

logger = logging.getLogger("autoskill.requests")
REQUEST_ID_HEADER = "X-Request-ID"
OVERHEAD_HEADER = "x-autoskill-overhead-ms"
MAX_PATH_CHARS = 512
# A caller's own request id is kept when it is a plain token; anything else is replaced.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The visible prefix of an AutoSkill key (ask_<8 hex>), never the secret after it.
_KEY_PREFIX = re.compile(r"^\s*bearer\s+(ask_[0-9a-f]{8})_", re.IGNORECASE)

_notes: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "autoskill_request_notes", default=None
)


def annotate_request(**fields: Any) -> None:
    """Add fields (user_id, key_prefix) to the current request's log line, if any.

    The notes are one dict shared by reference, so values set in a worker thread
    (`sync_to_async` copies the context) still reach the line.
    """
    notes = _notes.get()
    if notes is not None:
        notes.update({k: v for k, v in fields.items() if v is not None})


def _user_id(request: HttpRequest) -> Any:
    # The attribute itself: reading request.user would load the session to log it.
    user = request.__dict__.get("user")
    if user is None:
        return None
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    return user.pk if getattr(user, "is_authenticated", False) else None


def _key_prefix(request: HttpRequest) -> str | None:
    auth = request.__dict__.get("auth")  # DRF puts the verified ApiKey here
    prefix = getattr(auth, "prefix", None)
    if prefix:
        return str(prefix)
    match = _KEY_PREFIX.match(request.headers.get("Authorization", ""))
    return match.group(1) if match else None


class RequestRecord:
    """The measurement of one request; `finish` logs and counts it exactly once."""

    def __init__(self, request: HttpRequest) -> None:
        self.started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        self.request_id = given if _CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex
        request.request_id = self.request_id  # type: ignore[attr-defined]
        self.notes: dict[str, Any] = {}
        self._token = _notes.set(self.notes)
        self._done = False

    def detach(self) -> None:
        """Stop collecting notes in this context (the record itself stays usable)."""
        try:
            _notes.reset(self._token)
        except ValueError:  # reset from another context: nothing to undo there
            pass

    def respond(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """Tag the response; log now, or when a streamed body has been sent."""
        response[REQUEST_ID_HEADER] = self.request_id
        if not response.streaming:
            self.finish(request, response)
            return response
        content = response.streaming_content
        if response.is_async:

            async def timed_async() -> AsyncIterator[bytes]:
                try:
                    async for chunk in content:  # type: ignore[union-attr]
                        yield chunk
                finally:
                    self.finish(request, response)

            response.streaming_content = timed_async()
        else:

            def timed() -> Iterator[bytes]:
                try:
                    yield from content  # type: ignore[misc]
                finally:
                    self.finish(request, response)

            response.streaming_content = timed()
        return response

    def finish(self, request: HttpRequest, response: HttpResponseBase) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._emit(request, response, time.perf_counter() - self.started)
        except Exception:  # noqa: BLE001 - logging must never break an answer
            logger.exception("Could not log a request")

    def _emit(
        self, request: HttpRequest, response: HttpResponseBase, seconds: float
    ) -> None:
        match = getattr(request, "resolver_match", None)
        route = (match.route if match else "") or "unmatched"
        method = method_label(request.method)
        status = response.status_code
        overhead = _overhead_ms(response)
        HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        HTTP_LATENCY.labels(method=method, route=route).observe(seconds)
        if overhead is not None:
            PROXY_OVERHEAD.observe(overhead / 1000)
        if not logger.isEnabledFor(logging.INFO):
            return
        line = {
            "event": "http_request",
            # The two client-chosen texts in the line are redacted here, so the
            # handler's RedactingFilter need not rescan the line (~1 us a character).
            "request_id": redact_text(self.request_id),
            "method": method,
            "path": redact_text(request.path[:MAX_PATH_CHARS]),
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "overhead_ms": overhead,
            "stream": bool(response.streaming),
            "user_id": self.notes.get("user_id", _user_id(request)),
            "key_prefix": self.notes.get("key_prefix") or _key_prefix(request),
        }
        line = {key: value for key, value in line.items() if value is not None}
        logger.info(
            json.dumps(line, ensure_ascii=False, default=str),
            extra={PRE_REDACTED: True},
        )


def _overhead_ms(response: HttpResponseBase) -> float | None:
    raw = response.get(OVERHEAD_HEADER)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
