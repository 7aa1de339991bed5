"""The chat turn engine: who is asking, which skills to inject, what to learn after.

Shared by the OpenAI-compatible view and (later) the browser chat. Everything that
touches the ORM before the upstream call (API key, acting user, rewrite, search,
rendering) runs in ONE thread hop (`prepare_turn_async`), so a turn pays for a
single executor round trip. Learning (`learn_from_turn`, `audit_turn`) runs after the
reply: extraction of the request window (announced by id before it), and the usage audit.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections

from accounts.services import clean_external_id
from autoskill_site.exceptions import ApplicationError, InvalidInput
from autoskill_site.providers.llm import LLMPurpose
from autoskill_site.providers.llm_config import LLMConfig, resolve_llm_config
from autoskill_site.request_log import annotate_request
from extraction.triggers import proxy_extraction_submit, proxy_window_job
from proxy.auth import AuthenticationFailed, api_key_authenticate, bearer_token
from proxy.chat_request import ChatRequest, ProxyError, query_of
from proxy.identity import acting_user
from proxy.models import ApiKey
from proxy.turn_retrieval import TurnRetrieval, audit_usage, retrieve_turn
from retrieval.search import normalise_scope

__all__ = [
    "PreparedTurn",
    "audit_turn",
    "authenticate",
    "db_hop",
    "request_db_call",
    "learn_from_turn",
    "prepare_turn",
    "prepare_turn_async",
    "served_models",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")
SCOPE_HEADER = "X-AutoSkill-Scope"
LEARN_CHANNEL = "proxy_chat_completion"


@functools.cache
def _db_executor() -> ThreadPoolExecutor:
    """Threads for the proxy's database work. The event loop's default pool has
    cpu + 4 threads; a turn mostly waits on the database, so concurrent turns need more."""
    return ThreadPoolExecutor(
        max_workers=settings.AUTOSKILL_ASYNC_DB_THREADS, thread_name_prefix="db-hop"
    )


def db_hop(fn: Callable[..., T]) -> Callable[..., Any]:
    """`fn` as a coroutine on a pool thread, with Django's per-request DB hygiene.

    thread_sensitive=False lets concurrent turns run in parallel; closing obsolete
    connections before and after mirrors what request_started/finished do for the
    request thread, which these pool threads never see.
    """

    def run(*args: Any, **kwargs: Any) -> T:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False, executor=_db_executor())


def request_db_call(fn: Callable[..., T]) -> Callable[..., Any]:
    """`fn` as a coroutine in the request's own sync thread, closing its connection after.

    For async views that poll the database for a long time (SSE): the request's
    thread is thrown away when the response ends, and a stream cut short never sends
    request_finished, so a connection left open there would leak. Connections inside
    an atomic block (a test's transaction) are left alone.
    """

    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            for connection in connections.all(initialized_only=True):
                if not connection.in_atomic_block:
                    connection.close()

    return sync_to_async(run)


def served_models() -> list[str]:
    """AUTOSKILL_PROXY_MODELS: the model ids this server lists (empty: not restricted)."""
    raw = getattr(settings, "AUTOSKILL_PROXY_MODELS", None) or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return list(dict.fromkeys(str(m).strip() for m in raw if str(m).strip()))


def authenticate(
    *, authorization: str, sub_user: str | None = None, body_user: str | None = None
) -> tuple[Any, ApiKey]:
    """(acting user, key) from the bearer key; a service key may name a sub-user."""
    try:
        api_key = api_key_authenticate(secret=bearer_token(authorization))
    except AuthenticationFailed as exc:
        raise ProxyError(
            401,
            exc.message,
            code="invalid_api_key",
            headers={"WWW-Authenticate": 'Bearer realm="autoskill"'},
        ) from None
    requested = sub_user or (body_user if api_key.can_act_for_users else None)
    try:
        if sub_user and not api_key.can_act_for_users:
            # Ignored for an ordinary key, but a malformed header is still refused.
            clean_external_id(sub_user)
        user = acting_user(api_key=api_key, requested=requested)
        annotate_request(user_id=user.pk, key_prefix=api_key.prefix)  # the request log
        return user, api_key
    except InvalidInput as exc:
        param = None if sub_user else "user"
        raise ProxyError(400, exc.message, param=param) from None


def _scope(chat: ChatRequest, header: str | None) -> str:
    if chat.requested_scope is not None:
        param = "autoskill_scope" if "autoskill_scope" in chat.own else "scope"
        value: str | None = chat.requested_scope
    elif header:
        param, value = None, header
    else:
        param, value = None, getattr(settings, "AUTOSKILL_SKILL_SCOPE", "all")
    try:
        return normalise_scope(value)
    except InvalidInput as exc:
        where = f" ({SCOPE_HEADER} header)" if header and param is None else ""
        raise ProxyError(400, exc.message + where, param=param) from None


def _chat_config() -> LLMConfig:
    try:
        return resolve_llm_config(LLMPurpose.CHAT)
    except ImproperlyConfigured as exc:
        raise ProxyError(
            503,
            f"No upstream chat model is usable: {exc}",
            code="upstream_not_configured",
        ) from None


def _inject(messages: list[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    """All messages as sent, plus ONE system message after the leading system ones."""
    if not context:
        return list(messages)
    at = 0
    while at < len(messages) and messages[at].get("role") in ("system", "developer"):
        at += 1
    return [*messages[:at], {"role": "system", "content": context}, *messages[at:]]


@dataclass
class PreparedTurn:
    """A turn ready to go upstream: identity, config, retrieval, the payload."""

    user: Any
    chat: ChatRequest
    config: LLMConfig
    payload: dict[str, Any]
    retrieval: TurnRetrieval
    prepare_ms: float = 0.0
    extraction: dict[str, Any] = field(default_factory=dict)

    def autoskill(self, **extra: Any) -> dict[str, Any]:
        """The `autoskill` object of a response or stream chunk."""
        return {
            "retrieval": self.retrieval.summary(),
            "extraction": dict(self.extraction),
            **extra,
        }

    # The id announced for a job that is created after the reply (None: nothing to do).
    pending_job_id: str | None = None


def prepare_turn(
    *,
    authorization: str,
    chat: ChatRequest,
    sub_user: str | None = None,
    scope_header: str | None = None,
) -> PreparedTurn:
    """Authenticate, pick the upstream and the skills, build the upstream payload."""
    started = time.perf_counter()
    user, _key = authenticate(
        authorization=authorization, sub_user=sub_user, body_user=chat.user
    )
    scope = _scope(chat, scope_header)
    config = _chat_config()
    catalog = served_models()
    if catalog and chat.model is not None and chat.model not in catalog:
        raise ProxyError(
            404,
            f"The model {chat.model!r} does not exist; this server offers "
            f"{', '.join(catalog)} (AUTOSKILL_PROXY_MODELS).",
            param="model",
            code="model_not_found",
        )
    query, _history = query_of(chat.messages)
    retrieval = retrieve_turn(
        user=user, query=query, messages=chat.messages, scope=scope
    )
    payload = {
        **chat.forward,
        "messages": _inject(chat.messages, retrieval.context),
    }
    # Decided now (one indexed read) so the first stream chunk names the job, as the
    # original's clients expect; the row itself is written after the reply.
    announced = proxy_window_job(user=user, messages=chat.messages)
    turn = PreparedTurn(
        user=user,
        chat=chat,
        config=config,
        payload=payload,
        retrieval=retrieval,
        extraction={"job_id": None, "status": "disabled"},
    )
    if announced is not None:
        job_id, status = announced
        turn.extraction = {"job_id": job_id, "status": status}
        turn.pending_job_id = job_id if status == "scheduled" else None
    turn.prepare_ms = (time.perf_counter() - started) * 1000
    return turn


prepare_turn_async = db_hop(prepare_turn)


def learn_from_turn(*, turn: PreparedTurn) -> dict[str, Any]:
    """Queue extraction of the request window (the user's reaction to the previous
    answer; the new reply is not evidence) under the id announced in prepare_turn.

    proxy_extraction_submit returns the existing job for a window it has seen, so a
    client re-sending a history starts nothing new.
    """
    if turn.pending_job_id is None:
        return dict(turn.extraction)
    try:
        job, created = proxy_extraction_submit(
            user=turn.user,
            messages=turn.chat.messages,
            reference=turn.retrieval.reference(),
            source={"channel": LEARN_CHANNEL, "model": turn.chat.model or ""},
            job_id=uuid.UUID(turn.pending_job_id),
        )
    except ApplicationError as exc:
        logger.warning("Extraction not scheduled for a proxied turn: %s", exc.message)
        turn.extraction = {"job_id": None, "status": "failed", "error": exc.message}
        return dict(turn.extraction)
    if job is None:
        turn.extraction = {"job_id": None, "status": "disabled"}
    else:
        turn.extraction = {
            "job_id": str(job.pk),
            "status": job.status,
            "new": created,
        }
    return dict(turn.extraction)


def audit_turn(*, turn: PreparedTurn, reply_text: str) -> dict[str, Any]:
    """Schedule the usage audit of the retrieved skills; the `usage` object."""
    return audit_usage(turn.retrieval, user=turn.user, reply_text=reply_text)


learn_from_turn_async = db_hop(learn_from_turn)
audit_turn_async = db_hop(audit_turn)
