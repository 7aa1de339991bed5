"""One turn of the browser/terminal chat: retrieve, inject, stream, save, learn.

The turn is an async generator of events, shared by the WebSocket consumer and the
terminal command (which drives it with an asyncio runner):

- `{"type": "retrieval", "retrieval": {...}, "user_message_id": int}`
- `{"type": "token", "text": str}` as the upstream streams
- `{"type": "error", "message": str}` when the upstream fails (then `done`)
- `{"type": "done", "message_id", "status", "extraction": {...}, "usage": {...}}`

Retrieval is `proxy.turn_retrieval.retrieve_turn` with the session's scope, top_k,
min_score and rewrite mode; the rendered skills go upstream as ONE system message in
front of the conversation. `ChatTurn.stop()` (or cancelling the task, or closing the
generator) ends the reply early: the partial text is saved with status `stopped`.
After the reply the session's extraction policy runs (`extract_mode`,
`extract_turn_limit`), over the window that ends with the user's message: the new
reply is not evidence, the user's reaction to the previous one is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from autoskill_site.exceptions import ApplicationError, InvalidInput
from autoskill_site.providers.llm import LLMPurpose
from autoskill_site.providers.llm_config import LLMConfig, resolve_llm_config
from autoskill_site.providers.upstream import UpstreamError, upstream_for
from extraction.models import JobTrigger
from extraction.services.run import extraction_submit
from extraction.triggers import ExtractMode, proxy_window, should_extract_turn
from proxy.chat_sessions import chat_history, chat_message_append, chat_session_get
from proxy.chat_stream import Reply, sse_payloads, truncated_stream_error
from proxy.engine import db_hop
from proxy.models import ChatMessage, ChatMessageStatus, ChatRole, ChatSession
from proxy.turn_retrieval import TurnRetrieval, audit_usage, retrieve_turn

__all__ = [
    "MAX_MESSAGE_CHARS",
    "ChatTurn",
    "chat_regenerate",
    "chat_turn",
    "retrieval_trace",
]

logger = logging.getLogger(__name__)
# A /file upload may be 2 MB; its text is never longer in characters.
MAX_MESSAGE_CHARS = 2_000_000
LEARN_CHANNEL = "chat"


def retrieval_trace(retrieval: TurnRetrieval) -> dict[str, Any]:
    """The retrieval summary, each hit marked with whether it was injected."""
    summary = retrieval.summary()
    injected = set(summary["injected_ids"])
    for hit in summary["hits"]:
        hit["injected"] = hit["id"] in injected
    if not summary["hits"]:
        summary["why"] = retrieval.error or "no skill scored above min_score"
    elif not injected:
        summary["why"] = retrieval.error or "no retrieved skill fit the context budget"
    else:
        summary["why"] = (
            f"{len(injected)} of {len(summary['hits'])} hits fit the context"
        )
    return summary


@dataclass
class _Prepared:
    """What the turn needs after the first thread hop."""

    session_id: Any
    user: Any
    user_message_id: int
    history: list[dict[str, str]]
    retrieval: TurnRetrieval
    config: LLMConfig | None
    config_error: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def _prepare(*, session: ChatSession, text: str | None) -> _Prepared:
    """Save the user's message (or, to regenerate, drop the last reply), then retrieve."""
    with transaction.atomic():
        locked = chat_session_get(user=session.owner, session_id=session.pk, lock=True)
        if text is None:
            user_message = _rewind(locked)
        else:
            user_message = chat_message_append(
                session=locked, role=ChatRole.USER, content=text
            )
    history = chat_history(session=locked)
    # Rewrite and search run outside the transaction: a model call may take seconds.
    retrieval = retrieve_turn(
        user=locked.owner,
        query=user_message.content,
        messages=history,
        scope=locked.scope,
        top_k=locked.top_k,
        min_score=locked.min_score,
        rewrite_mode=locked.rewrite_mode,
    )
    prepared = _Prepared(
        session_id=locked.pk,
        user=locked.owner,
        user_message_id=user_message.pk,
        history=history,
        retrieval=retrieval,
        config=None,
    )
    try:
        prepared.config = resolve_llm_config(LLMPurpose.CHAT)
    except ImproperlyConfigured as exc:
        prepared.config_error = f"No chat model is usable: {exc}"
    context = [{"role": "system", "content": retrieval.context}]
    prepared.payload = {"messages": (context if retrieval.context else []) + history}
    return prepared


def _rewind(session: ChatSession) -> ChatMessage:
    """Drop the last assistant reply; the user message before it is asked again."""
    last = ChatMessage.objects.filter(session_id=session.pk).order_by("-seq").first()
    if last is not None and last.role == ChatRole.ASSISTANT:
        last.delete()
        last = (
            ChatMessage.objects.filter(session_id=session.pk).order_by("-seq").first()
        )
    if last is None or last.role != ChatRole.USER:
        raise InvalidInput("There is no user message to regenerate a reply for.")
    return last


def _learn(*, session: ChatSession, prepared: _Prepared) -> dict[str, Any]:
    """Apply the session's extraction policy to this turn; the `extraction` object."""
    session.turns_since_extraction += 1
    due = should_extract_turn(
        mode=session.extract_mode,
        turn_limit=session.extract_turn_limit,
        turns_since_extraction=session.turns_since_extraction,
    )
    if not due:
        if not settings.AUTOSKILL_EXTRACT_ENABLED:
            reason = "extraction is disabled (AUTOSKILL_EXTRACT_ENABLED=0)"
        elif session.extract_mode == ExtractMode.NEVER:
            reason = "extract_mode is never (/extract_now still works)"
        else:
            reason = (
                f"turn {session.turns_since_extraction} of "
                f"{session.extract_turn_limit} (/extract_every)"
            )
        return {"job_id": None, "status": "not_due", "reason": reason}
    window = proxy_window(
        prepared.history, ingest_window=int(settings.AUTOSKILL_INGEST_WINDOW)
    )
    if window is None:
        # The counter is kept: the next turn has a reply to react to.
        return {
            "job_id": None,
            "status": "skipped",
            "reason": "no assistant reply before this message yet",
        }
    try:
        job, created = extraction_submit(
            user=prepared.user,
            messages=window,
            trigger=JobTrigger.CHAT_AUTO,
            reference=prepared.retrieval.reference(),
            source={"channel": LEARN_CHANNEL, "session_id": str(session.pk)},
            max_messages=len(window),
        )
    except ApplicationError as exc:
        logger.warning("Extraction not scheduled for a chat turn: %s", exc.message)
        return {"job_id": None, "status": "failed", "error": exc.message}
    session.turns_since_extraction = 0
    return {
        "job_id": str(job.pk),
        "status": job.status,
        "trigger": job.trigger,
        "new": created,
    }


def _finish(
    *,
    prepared: _Prepared,
    text: str,
    status: str,
    error: str,
    regenerate: bool,
) -> dict[str, Any]:
    """Save the reply with its trace, learn from the turn; the `done` event."""
    retrieval = prepared.retrieval
    with transaction.atomic():
        session = chat_session_get(
            user=prepared.user, session_id=prepared.session_id, lock=True
        )
        if status == ChatMessageStatus.ERROR:
            extraction = {"job_id": None, "status": "skipped", "reason": "reply failed"}
        elif regenerate:
            extraction = {"job_id": None, "status": "skipped", "reason": "regenerated"}
        else:
            extraction = _learn(session=session, prepared=prepared)
            session.save(update_fields=["turns_since_extraction", "updated_at"])
        usage = audit_usage(retrieval, user=prepared.user, reply_text=text)
        trace = {
            "retrieval": retrieval_trace(retrieval),
            "extraction": extraction,
            "usage": usage,
        }
        message = chat_message_append(
            session=session,
            role=ChatRole.ASSISTANT,
            content=text,
            status=status,
            error=error,
            trace=trace,
        )
    return {
        "type": "done",
        "message_id": message.pk,
        "seq": message.seq,
        "status": status,
        "extraction": extraction,
        "usage": usage,
    }


_prepare_async = db_hop(_prepare)
_finish_async = db_hop(_finish)


class ChatTurn:
    """One assistant turn of a session; iterate `events()` once, `stop()` any time.

    Both belong to one event loop: a consumer's receive handler calls `stop()` while
    another task iterates the events.
    """

    def __init__(self, *, session: ChatSession, text: str | None) -> None:
        if text is not None:
            if not text.strip():
                raise InvalidInput("The message is empty.")
            if len(text) > MAX_MESSAGE_CHARS:
                raise InvalidInput(
                    f"The message is {len(text)} characters long; "
                    f"the limit is {MAX_MESSAGE_CHARS}."
                )
        self.session = session
        self.text = text
        self.regenerate = text is None
        self._stop = asyncio.Event()
        self._parts: list[str] = []
        self._prepared: _Prepared | None = None
        self._saved = False

    def stop(self) -> None:
        """End the reply after the current token; the partial text is kept."""
        self._stop.set()

    async def _save(self, status: str, error: str = "") -> dict[str, Any]:
        if self._prepared is None:
            raise RuntimeError("The turn was never prepared.")
        self._saved = True
        return await _finish_async(
            prepared=self._prepared,
            text="".join(self._parts),
            status=status,
            error=error,
            regenerate=self.regenerate,
        )

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The turn's events; see the module docstring."""
        self._prepared = prepared = await _prepare_async(
            session=self.session, text=self.text
        )
        status, error = ChatMessageStatus.COMPLETE, ""
        try:
            yield {
                "type": "retrieval",
                "retrieval": retrieval_trace(prepared.retrieval),
                "user_message_id": prepared.user_message_id,
                "regenerated": self.regenerate,
            }
            async with aclosing(self._reply(prepared)) as replies:
                async for event in replies:
                    if event["type"] == "error":
                        status, error = ChatMessageStatus.ERROR, event["message"]
                    yield event
            if self._stop.is_set() and status != ChatMessageStatus.ERROR:
                status = ChatMessageStatus.STOPPED
        except (asyncio.CancelledError, GeneratorExit):
            # The caller went away mid-reply (task cancelled, generator closed):
            # what was streamed is still the user's conversation.
            if not self._saved:
                await asyncio.shield(self._save(ChatMessageStatus.STOPPED))
            raise
        yield await self._save(status, error)

    async def _reply(self, prepared: _Prepared) -> AsyncIterator[dict[str, Any]]:
        """Token events from the upstream, or one error event."""
        if prepared.config is None:
            yield {"type": "error", "message": prepared.config_error}
            return
        try:
            stream = await upstream_for(prepared.config).chat_stream(prepared.payload)
        except UpstreamError as exc:
            yield {"type": "error", "message": exc.message}
            return
        reply = Reply()
        payloads = sse_payloads(stream, keepalive=0)
        stopper = asyncio.ensure_future(self._stop.wait())
        pending: asyncio.Future[str] | None = None
        try:
            while True:
                pending = asyncio.ensure_future(anext(payloads))
                await asyncio.wait({pending, stopper}, return_when="FIRST_COMPLETED")
                if not pending.done():
                    return  # stopped; `finally` cancels the read
                try:
                    payload = pending.result()
                except StopAsyncIteration:
                    if not reply.finished:
                        yield {
                            "type": "error",
                            "message": truncated_stream_error().message,
                        }
                    return
                except UpstreamError as exc:
                    yield {"type": "error", "message": exc.message}
                    return
                if payload == "[DONE]":
                    return
                for event in self._tokens(reply, payload):
                    yield event
                    if event["type"] == "error":
                        return
        finally:
            for task in (pending, stopper):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(
                        asyncio.CancelledError, StopAsyncIteration
                    ):
                        await task
            await payloads.aclose()

    def _tokens(self, reply: Reply, payload: str) -> list[dict[str, Any]]:
        try:
            chunk = json.loads(payload)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            return [
                {
                    "type": "error",
                    "message": f"The upstream sent a malformed chunk: {payload[:120]!r}.",
                }
            ]
        if isinstance(chunk.get("error"), dict):
            message = str(chunk["error"].get("message") or "upstream error")
            return [{"type": "error", "message": message}]
        seen = len(reply.parts)
        reply.add(chunk)
        events = []
        for piece in reply.parts[seen:]:
            if piece:
                self._parts.append(piece)
                events.append({"type": "token", "text": piece})
        return events


def chat_turn(*, session: ChatSession, text: str) -> ChatTurn:
    """A turn answering `text` (InvalidInput when empty or too long)."""
    return ChatTurn(session=session, text=text)


def chat_regenerate(*, session: ChatSession) -> ChatTurn:
    """A turn that drops the last reply and answers the last user message again."""
    return ChatTurn(session=session, text=None)
