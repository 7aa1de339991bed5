"""GET /v1/autoskill/extractions/<job_id>/events: a job's events as Server-Sent Events.

An async Django view, not DRF: DRF views are synchronous and would pin a worker
thread for the whole stream. The stream reads JobEvent rows (the durable record),
so it works with any channel layer, including none, and whichever process runs the
job. Each row is sent once, in order, with `id: <event id>`; a client that
reconnects with `Last-Event-ID` (or `?after=`) resumes after it and misses nothing,
unlike the original, which sent only the latest state on each tick.

Frames:
    retry: 3000 and a comment        first, so the headers reach the client at once
    id: <event id> / event: update   one per JobEvent row, data = the event JSON
    : keep-alive                     after KEEPALIVE_SECONDS without an event
    event: done                      data = the latest event plus `reason`: "terminal"
                                     (the job ended), "timeout" (`timeout_s` passed)
                                     or "deleted"; it has no id, so a reconnect
                                     resumes after the last update
    data: [DONE]                     last, as the original's clients expect

The OpenAPI description of this path lives in proxy/schema_openai.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from autoskill_site.exceptions import InvalidInput
from extraction.events import event_payload
from extraction.models import TERMINAL_STATUSES, ExtractionJob, JobEvent
from proxy.auth import AuthenticationFailed, api_key_authenticate, bearer_token
from proxy.engine import request_db_call
from proxy.errors import error_response
from proxy.identity import SUB_USER_HEADER, acting_user

__all__ = ["extraction_events_stream"]

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
TIMEOUT_DEFAULT = 30
TIMEOUT_MAX = 300
BATCH = 100
RETRY_MS = 3000  # tells EventSource how soon to reconnect after a timeout


class _BadParameter(Exception):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param, self.message = param, message


def _authenticate(request: HttpRequest) -> Any | None:
    """The API key's identity (or a service key's sub-user); None without a key."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    api_key = api_key_authenticate(secret=bearer_token(header))
    return acting_user(api_key=api_key, requested=request.headers.get(SUB_USER_HEADER))


def _int_param(raw: str | None, *, name: str, default: int, low: int, high: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _BadParameter(name, f"{name} must be an integer from {low} to {high}.")
    return value


def _owned_job_status(user: Any, job_id: Any) -> str | None:
    return (
        ExtractionJob.objects.filter(pk=job_id, user=user)
        .values_list("status", flat=True)
        .first()
    )


def _poll(job_id: Any, after: int) -> tuple[list[dict[str, Any]], str, str | None]:
    """New events after `after`, the job's status, and its newest event's status.

    The status is read before the events, and a job counts as finished only once
    its terminal event row is there too: the status update and that row are
    separate writes, and the stream must not end between them.
    """
    status = ExtractionJob.objects.filter(pk=job_id).values_list("status", flat=True)
    job_status = status.first() or ""
    rows = list(
        JobEvent.objects.filter(job_id=job_id, pk__gt=after)
        .select_related("job")
        .order_by("pk")[:BATCH]
    )
    newest = (
        JobEvent.objects.filter(job_id=job_id)
        .order_by("-pk")
        .values_list("status", flat=True)
        .first()
    )
    return [event_payload(row) for row in rows], job_status, newest


def _latest(job_id: Any) -> dict[str, Any] | None:
    row = JobEvent.objects.filter(job_id=job_id).select_related("job").last()
    return event_payload(row) if row else None


def _frame(data: Any, *, event: str | None = None, event_id: int | None = None) -> str:
    text = (
        data
        if isinstance(data, str)
        else json.dumps(
            data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")
        )
    )
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append(f"data: {text}")
    return "\n".join(lines) + "\n\n"


async def _events(job_id: Any, *, after: int, timeout: float) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet_since = loop.time()
    # The first bytes flush the headers, so the client knows the stream is open.
    yield f"retry: {RETRY_MS}\n: stream of job {job_id}\n\n"
    poll = request_db_call(_poll)
    while True:
        events, job_status, newest = await poll(job_id, after)
        for event in events:
            after = event["event_id"]
            quiet_since = loop.time()
            yield _frame(event, event="update", event_id=after)
        caught_up = len(events) < BATCH
        finished = job_status in TERMINAL_STATUSES and newest == job_status
        if caught_up and (finished or not job_status or loop.time() >= deadline):
            reason = "terminal" if finished else "timeout" if job_status else "deleted"
            last = await request_db_call(_latest)(job_id)
            yield _frame(
                {**(last or {"job_id": str(job_id), "status": "not_found"}),
                 "reason": reason, "last_event_id": after},
                event="done",
            )  # fmt: skip
            yield _frame("[DONE]")
            return
        if not caught_up:
            continue  # a backlog: send it without waiting
        if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = loop.time()
            yield ": keep-alive\n\n"
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - loop.time())))


@require_GET
async def extraction_events_stream(request: HttpRequest, job_id: Any) -> HttpResponse:
    """Stream the caller's job's events; another user's job is a 404."""
    try:
        user = await request_db_call(_authenticate)(request)
    except AuthenticationFailed as exc:
        response = error_response(401, exc.message, code=exc.code)
        response["WWW-Authenticate"] = 'Bearer realm="autoskill"'
        return response
    except InvalidInput as exc:
        return error_response(400, exc.message, code=exc.code, param="user")
    if user is None:
        session_user = await request.auser()
        user = session_user if session_user.is_authenticated else None
    if user is None:
        response = error_response(
            401,
            "Send your API key as 'Authorization: Bearer <key>'.",
            code="invalid_api_key",
        )
        response["WWW-Authenticate"] = 'Bearer realm="autoskill"'
        return response
    try:
        timeout = _int_param(
            request.GET.get("timeout_s"), name="timeout_s",
            default=TIMEOUT_DEFAULT, low=1, high=TIMEOUT_MAX,
        )  # fmt: skip
        resume = request.headers.get("Last-Event-ID") or request.GET.get("after")
        after = _int_param(resume, name="after", default=0, low=0, high=2**63 - 1)
    except _BadParameter as exc:
        return error_response(400, exc.message, code="invalid_value", param=exc.param)
    if await request_db_call(_owned_job_status)(user, job_id) is None:
        return error_response(404, "Extraction job not found.", code="not_found")
    response = StreamingHttpResponse(
        _events(job_id, after=after, timeout=float(timeout)),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
