"""POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models: async Django views.

Not DRF, which cannot hold a stream open asynchronously. Each view parses, calls the
engine or the upstream, and renders; every error is an OpenAI envelope.
`x-autoskill-overhead-ms` reports the time the proxy added: everything except the
wait for the upstream (for streams: the time before the upstream request went out).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from autoskill_site.providers.llm import LLMPurpose
from autoskill_site.providers.llm_config import resolve_llm_config
from autoskill_site.providers.upstream import UpstreamError, upstream_for
from proxy.chat_request import ChatRequest, ProxyError, parse_chat_request
from proxy.chat_stream import Reply, relay_chat_stream
from proxy.embeddings_api import embeddings_response
from proxy.engine import (
    SCOPE_HEADER,
    PreparedTurn,
    audit_turn_async,
    authenticate,
    db_hop,
    learn_from_turn_async,
    prepare_turn_async,
    served_models,
)
from proxy.identity import SUB_USER_HEADER

__all__ = ["chat_completions", "embeddings", "models"]

logger = logging.getLogger(__name__)
OVERHEAD_HEADER = "x-autoskill-overhead-ms"
DEFAULT_MAX_BODY = 20_000_000
DEFAULT_KEEPALIVE = 15.0
# Learning tasks outlive their request; holding them stops the GC from eating them.
_background: set[asyncio.Task[Any]] = set()

authenticate_async = db_hop(authenticate)


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _quietly(coro: Coroutine[Any, Any, Any], what: str) -> None:
    try:
        await coro
    except Exception:
        logger.exception("Background %s failed after a proxied reply", what)


def _only(request: HttpRequest, method: str) -> ProxyError | None:
    if request.method == method:
        return None
    return ProxyError(
        405,
        f"Method {request.method} is not allowed here; use {method}.",
        code="method_not_allowed",
        headers={"Allow": method},
    )


def _read_body(request: HttpRequest) -> bytes:
    # request.body would cap at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB); chats with
    # images are larger, so the proxy has its own limit.
    limit = int(getattr(settings, "AUTOSKILL_PROXY_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise ProxyError(
            413,
            f"The request body is larger than {limit} bytes "
            "(AUTOSKILL_PROXY_MAX_BODY_BYTES).",
            code="request_too_large",
        )
    return raw


async def _parse_after_auth(request: HttpRequest) -> ChatRequest:
    """The request, or its validation error once the caller proved who they are.

    A caller without a valid key learns nothing about what the body should be, so
    a bad request from an unknown caller is a 401 (as on the DRF API).
    """
    try:
        return parse_chat_request(_read_body(request))
    except ProxyError:
        await authenticate_async(authorization=request.headers.get("Authorization", ""))
        raise


def _upstream_error(exc: UpstreamError) -> JsonResponse:
    response = JsonResponse(exc.body(), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    """Chat with skills injected; `stream: true` answers Server-Sent Events."""
    started = time.perf_counter()
    try:
        if refused := _only(request, "POST"):
            raise refused
        chat = await _parse_after_auth(request)
        turn = await prepare_turn_async(
            authorization=request.headers.get("Authorization", ""),
            chat=chat,
            sub_user=request.headers.get(SUB_USER_HEADER),
            scope_header=request.headers.get(SCOPE_HEADER),
        )
    except ProxyError as exc:
        return exc.response()
    upstream = upstream_for(turn.config)
    if chat.stream:
        return await _stream(turn, upstream, started)
    sent = time.perf_counter()
    try:
        data = await upstream.chat(turn.payload)
    except UpstreamError as exc:
        return _upstream_error(exc)
    waited = time.perf_counter() - sent
    reply = _first_message(data)
    text = str((reply or {}).get("content") or "")
    extraction = await _learn(turn)
    usage = _usage(turn, text)
    data["autoskill"] = turn.autoskill(usage=usage, extraction=extraction)
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response[OVERHEAD_HEADER] = _ms(time.perf_counter() - started - waited)
    if usage["status"] == "scheduled":
        _spawn(_quietly(audit_turn_async(turn=turn, reply_text=text), "usage audit"))
    return response


async def _learn(turn: PreparedTurn) -> dict[str, Any]:
    """Queue extraction when the window qualifies (no thread hop when it cannot)."""
    if turn.pending_job_id is None:
        return dict(turn.extraction)
    return await learn_from_turn_async(turn=turn)


def _usage(turn: PreparedTurn, reply_text: str) -> dict[str, str]:
    # Library skills are never counted; with none of the user's own there is nothing to audit.
    scheduled = bool(turn.retrieval.own_skills and reply_text)
    return {"status": "scheduled" if scheduled else "skipped"}


def _first_message(data: dict[str, Any]) -> dict[str, Any] | None:
    choices = data.get("choices") or []
    first = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = first.get("message")
    return message if isinstance(message, dict) else None


async def _stream(turn: PreparedTurn, upstream: Any, started: float) -> HttpResponse:
    before_upstream = time.perf_counter() - started
    try:
        stream = await upstream.chat_stream(turn.payload)
    except UpstreamError as exc:
        return _upstream_error(exc)

    async def finish(reply: Reply) -> dict[str, Any]:
        extraction = await _learn(turn)
        return turn.autoskill(usage=_usage(turn, reply.text), extraction=extraction)

    def after(reply: Reply) -> None:
        if _usage(turn, reply.text)["status"] == "scheduled":
            audit = audit_turn_async(turn=turn, reply_text=reply.text)
            _spawn(_quietly(audit, "usage audit"))

    keepalive = float(
        getattr(settings, "AUTOSKILL_PROXY_KEEPALIVE_SECONDS", DEFAULT_KEEPALIVE)
    )
    response = StreamingHttpResponse(
        relay_chat_stream(
            stream=stream,
            first_extra=turn.autoskill,
            finish=finish,
            after=after,
            keepalive=keepalive,
        ),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response[OVERHEAD_HEADER] = _ms(before_upstream)
    return response


@csrf_exempt
async def embeddings(request: HttpRequest) -> HttpResponse:
    """Embed text with the configured embedding provider, in OpenAI's shape."""
    try:
        if refused := _only(request, "POST"):
            raise refused
        await authenticate_async(authorization=request.headers.get("Authorization", ""))
        return await embeddings_response(_read_body(request))
    except ProxyError as exc:
        return exc.response()


@csrf_exempt
async def models(request: HttpRequest) -> HttpResponse:
    """AUTOSKILL_PROXY_MODELS, else the upstream's list, else the configured model."""
    try:
        if refused := _only(request, "GET"):
            raise refused
        await authenticate_async(authorization=request.headers.get("Authorization", ""))
    except ProxyError as exc:
        return exc.response()
    created = int(time.time())
    catalog = served_models()
    if catalog:
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "autoskill"}
            for m in catalog
        ]
        return JsonResponse({"object": "list", "data": data})
    try:
        config = resolve_llm_config(LLMPurpose.CHAT)
    except ImproperlyConfigured as exc:
        return ProxyError(
            503,
            f"No upstream chat model is usable: {exc}",
            code="upstream_not_configured",
        ).response()
    try:
        listed = await upstream_for(config).models()
    except UpstreamError as exc:
        # The list is a convenience; the configured model always answers.
        logger.info("Upstream model list unavailable: %s", exc.message)
        listed = []
    data = [
        {
            "id": str(item["id"]),
            "object": "model",
            "created": int(item.get("created") or created),
            "owned_by": str(item.get("owned_by") or config.provider),
        }
        for item in listed
    ] or [
        {
            "id": upstream_for(config).model,
            "object": "model",
            "created": created,
            "owned_by": config.provider,
        }
    ]
    return JsonResponse({"object": "list", "data": data})
