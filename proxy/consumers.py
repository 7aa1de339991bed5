"""The browser chat over a WebSocket: `/ws/chat/`, one consumer per open tab.

Authenticated by the Django session cookie (`AuthMiddlewareStack`); an anonymous
socket is accepted and closed at once with code 4401, so the page can tell "log in
again" from a network drop (a refused handshake only shows the browser 1006).

Client messages (JSON objects):

- `{"type": "chat", "session_id"?, "text", "settings"?}`: a turn, or a slash command
  when the text is one (`/` or `／`); without `session_id` a new session is created,
  with `settings` (validated like `session.configure`) over the defaults. `settings`
  next to a `session_id` is refused: an existing session changes through
  `session.configure`, so a stale page cannot silently overwrite it.
- `{"type": "stop"}`: end the running reply; the partial text is saved as `stopped`.
- `{"type": "regenerate", "session_id"}`: answer the last user message again.
- `{"type": "session.list"}`, `{"type": "session.create", "title"?, "settings"?}`,
  `{"type": "session.rename", "session_id", "title"}`,
  `{"type": "session.delete", "session_id"}`.
- `{"type": "session.configure", "session_id", "settings": {...}}`: change some of
  the session's retrieval and extraction settings (the names of
  `proxy.chat_sessions.SETTING_FIELDS`), as the slash commands do.

Server messages: the turn's events from `proxy.chat_service` in order (`retrieval`,
`token`..., `error`?, `done`), each with the `session_id`; `{"type": "command", ...}`;
`session.list|created|renamed|deleted`; `{"type": "session.configured", "session",
"changed"}` (`changed`: the settings whose value changed, `{}` when none did);
`{"type": "job.event", "event": {...}}` for the owner's extraction jobs;
`{"type": "error", "message", "request"}` for bad input, which never closes the
socket.

Job status arrives two ways: the channel-layer group push (reaches every process
with Redis) and, for the jobs this socket's turns and commands created, a follower
that reads new `JobEvent` rows every `FOLLOW_INTERVAL` seconds until each job is
terminal. The follower is what makes the embedded default (in-memory layer, worker
in another process) live without the browser polling; `event_id` dedupes the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from autoskill_site.exceptions import ApplicationError, InvalidInput
from autoskill_site.sanitize import JSONRefused, json_loads_bounded
from extraction.events import job_events_after, user_group
from extraction.models import TERMINAL_STATUSES
from proxy.chat_commands import chat_command_run_async, parse_command
from proxy.chat_service import ChatTurn, chat_regenerate, chat_turn
from proxy.chat_sessions import (
    DEFAULT_TITLE,
    chat_session_configure,
    chat_session_create,
    chat_session_delete,
    chat_session_get,
    chat_session_list,
    chat_session_rename,
    chat_session_settings,
)
from proxy.models import ChatSession

__all__ = ["CLOSE_UNAUTHENTICATED", "FOLLOW_INTERVAL", "ChatConsumer"]

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
FOLLOW_INTERVAL = 0.5
# Remembered event ids for dedupe; far more than one socket sees between two reads.
SEEN_EVENTS_KEPT = 4096
MAX_LISTED_SESSIONS = 500
TERMINAL = {str(status) for status in TERMINAL_STATUSES}


def session_json(session: ChatSession) -> dict[str, Any]:
    """A session as the socket and the page show it (no messages)."""
    return {
        "id": str(session.pk),
        "title": session.title,
        "created_at": session.created_at.isoformat(),
        "updated_at": session.updated_at.isoformat(),
        "settings": chat_session_settings(session),
        "turns_since_extraction": session.turns_since_extraction,
    }


def _session_rows(*, user: Any) -> list[dict[str, Any]]:
    return [session_json(s) for s in chat_session_list(user=user)[:MAX_LISTED_SESSIONS]]


def _session_for_chat(
    *, user: Any, session_id: object, settings: dict[str, Any]
) -> tuple[ChatSession, bool]:
    """The user's session, or a new one with `settings` when no id was given;
    (session, created)."""
    if session_id is None:
        return chat_session_create(user=user, settings=settings), True
    return chat_session_get(user=user, session_id=session_id), False


def _session_configure(
    *, user: Any, session_id: object, settings: dict[str, Any]
) -> tuple[ChatSession, dict[str, Any]]:
    """Configure, then read the session back: one thread hop for the answer."""
    changed = chat_session_configure(user=user, session_id=session_id, changes=settings)
    return chat_session_get(user=user, session_id=session_id), changed


def _text_field(content: dict[str, Any], name: str) -> str:
    value = content.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"`{name}` must be a string.")
    return value


def _settings_field(content: dict[str, Any], *, required: bool) -> dict[str, Any]:
    value = content.get("settings")
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("`settings` must be an object of setting names and values.")
    if required and not value:
        raise InvalidInput("`settings` must name at least one setting.")
    return value


def _session_id_field(content: dict[str, Any], *, required: bool) -> object:
    value = content.get("session_id")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("`session_id` must be a session id string.")
    return value


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """One browser tab's chat: at most one running turn, plus its jobs' live status."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.group = user_group(user.pk)
        self.turn: ChatTurn | None = None
        self.turn_task: asyncio.Task[None] | None = None
        self.turn_session_id: str | None = None
        self.follower: asyncio.Task[None] | None = None
        # job id -> id of the last event read for it; the jobs still followed.
        self.followed: dict[str, int] = {}
        self.seen: OrderedDict[int, None] = OrderedDict()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "group"):
            return  # the anonymous socket closed by connect()
        await self.channel_layer.group_discard(self.group, self.channel_name)
        for task in (self.turn_task, self.follower):
            if task is not None and not task.done():
                # Cancelling the turn saves its partial reply as stopped.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- incoming -----------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs
    ) -> None:
        # Overridden so malformed frames answer an error instead of killing the socket.
        if not hasattr(self, "user"):
            return  # a frame that raced the 4401 close of an anonymous socket
        if text_data is None:
            await self._error("Send JSON text frames, not binary ones.")
            return
        try:
            content = json_loads_bounded(text_data)
        except JSONRefused as exc:
            await self._error(str(exc))
            return
        except ValueError:
            await self._error("The message is not valid JSON.")
            return
        if not isinstance(content, dict):
            await self._error("The message must be a JSON object.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs) -> None:
        kind = content.get("type")
        handler = self._handlers().get(kind) if isinstance(kind, str) else None
        if handler is None:
            known = ", ".join(sorted(self._handlers()))
            await self._error(
                f"Unknown message type {kind!r}; known: {known}.", request=kind
            )
            return
        try:
            await handler(content)
        except ApplicationError as exc:
            await self._error(exc.message, request=kind)
        except Exception:
            # Uncaught, it would close the socket (and the tab's reply with it).
            logger.exception("chat socket message %r failed", kind)
            await self._error(
                "The server failed to handle this message; see the logs.", request=kind
            )

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[None]]]:
        return {
            "chat": self._on_chat,
            "stop": self._on_stop,
            "regenerate": self._on_regenerate,
            "session.list": self._on_session_list,
            "session.create": self._on_session_create,
            "session.rename": self._on_session_rename,
            "session.delete": self._on_session_delete,
            "session.configure": self._on_session_configure,
        }

    @property
    def busy(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    def _refuse_when_busy(self) -> None:
        if self.busy:
            raise InvalidInput(
                'A reply is still streaming; wait for it or send {"type": "stop"}.'
            )

    async def _on_chat(self, content: dict[str, Any]) -> None:
        self._refuse_when_busy()
        text = _text_field(content, "text")
        session_id = _session_id_field(content, required=False)
        settings = _settings_field(content, required=False)
        if not text.strip():
            raise InvalidInput("The message is empty.")
        if settings and session_id is not None:
            raise InvalidInput(
                "`settings` only apply to a chat that starts a new session; "
                "change an existing session with session.configure."
            )
        session, created = await database_sync_to_async(_session_for_chat)(
            user=self.user, session_id=session_id, settings=settings
        )
        if created:
            await self.send_json(
                {"type": "session.created", "session": session_json(session)}
            )
        if parse_command(text) is not None:
            result = await chat_command_run_async(session=session, text=text)
            event = {**result.as_event(), "session_id": str(session.pk)}
            await self.send_json(event)
            if result.job_id:
                self._follow(result.job_id)
            return
        self._start(chat_turn(session=session, text=text), session, request="chat")

    async def _on_regenerate(self, content: dict[str, Any]) -> None:
        self._refuse_when_busy()
        session_id = _session_id_field(content, required=True)
        session = await database_sync_to_async(chat_session_get)(
            user=self.user, session_id=session_id
        )
        self._start(chat_regenerate(session=session), session, request="regenerate")

    async def _on_stop(self, content: dict[str, Any]) -> None:
        # Idle stop is a no-op: the reply may have ended just before the click.
        if self.turn is not None and self.busy:
            self.turn.stop()

    async def _on_session_list(self, content: dict[str, Any]) -> None:
        rows = await database_sync_to_async(_session_rows)(user=self.user)
        await self.send_json({"type": "session.list", "sessions": rows})

    async def _on_session_create(self, content: dict[str, Any]) -> None:
        title = content.get("title") or ""
        settings = content.get("settings") or {}
        if not isinstance(title, str) or not isinstance(settings, dict):
            raise InvalidInput("`title` must be a string and `settings` an object.")
        session = await database_sync_to_async(chat_session_create)(
            user=self.user, title=title, settings=settings
        )
        await self.send_json(
            {"type": "session.created", "session": session_json(session)}
        )

    async def _on_session_rename(self, content: dict[str, Any]) -> None:
        session_id = _session_id_field(content, required=True)
        title = _text_field(content, "title")
        session = await database_sync_to_async(chat_session_rename)(
            user=self.user, session_id=session_id, title=title
        )
        await self.send_json(
            {"type": "session.renamed", "session": session_json(session)}
        )

    async def _on_session_delete(self, content: dict[str, Any]) -> None:
        session_id = _session_id_field(content, required=True)
        if self.busy and str(session_id) == self.turn_session_id:
            raise InvalidInput(
                "This session's reply is still streaming; stop it first."
            )
        await database_sync_to_async(chat_session_delete)(
            user=self.user, session_id=session_id
        )
        await self.send_json({"type": "session.deleted", "session_id": session_id})

    async def _on_session_configure(self, content: dict[str, Any]) -> None:
        # Allowed mid-reply (unlike commands, nothing is appended to the conversation):
        # the running turn has retrieved with the old values; its extraction policy,
        # read when the reply is saved, sees the new ones.
        session_id = _session_id_field(content, required=True)
        settings = _settings_field(content, required=True)
        session, changed = await database_sync_to_async(_session_configure)(
            user=self.user, session_id=session_id, settings=settings
        )
        await self.send_json(
            {
                "type": "session.configured",
                "session": session_json(session),
                "changed": changed,
            }
        )

    # -- the turn -----------------------------------------------------------------

    def _start(self, turn: ChatTurn, session: ChatSession, *, request: str) -> None:
        # A task, so this socket keeps receiving (a stop) while the reply streams.
        self.turn = turn
        self.turn_session_id = str(session.pk)
        untitled = session.title == DEFAULT_TITLE
        self.turn_task = asyncio.create_task(
            self._run_turn(turn, str(session.pk), request, untitled=untitled)
        )

    async def _run_turn(
        self, turn: ChatTurn, session_id: str, request: str, *, untitled: bool
    ) -> None:
        try:
            async for event in turn.events():
                await self.send_json({**event, "session_id": session_id})
                if untitled and event["type"] == "retrieval":
                    # The first message just named the session; the sidebar should say so.
                    untitled = False
                    await self._announce_title(session_id)
                job_id = (event.get("extraction") or {}).get("job_id")
                if event["type"] == "done" and job_id:
                    self._follow(job_id)
        except ApplicationError as exc:
            await self._error(exc.message, request=request)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("chat turn of session %s failed", session_id)
            await self._error(
                "The reply failed on the server; see the logs.", request=request
            )
        finally:
            self.turn = None

    async def _announce_title(self, session_id: str) -> None:
        session = await database_sync_to_async(chat_session_get)(
            user=self.user, session_id=session_id
        )
        if session.title != DEFAULT_TITLE:
            await self.send_json(
                {"type": "session.renamed", "session": session_json(session)}
            )

    # -- job events ---------------------------------------------------------------

    async def job_event(self, message: dict[str, Any]) -> None:
        """A job event pushed to the owner's group (`{"type": "job.event"}`)."""
        await self._forward(message["event"])

    async def _forward(self, event: dict[str, Any]) -> None:
        event_id = event.get("event_id")
        if event_id in self.seen:
            return
        self.seen[event_id] = None
        while len(self.seen) > SEEN_EVENTS_KEPT:
            self.seen.popitem(last=False)
        await self.send_json({"type": "job.event", "event": event})

    def _follow(self, job_id: str) -> None:
        self.followed.setdefault(str(job_id), 0)
        if self.follower is None or self.follower.done():
            self.follower = asyncio.create_task(self._follow_jobs())

    async def _follow_jobs(self) -> None:
        try:
            await self._read_followed()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The group push still works; the next job this socket creates restarts it.
            logger.exception("following job events of user %s failed", self.user.pk)

    async def _read_followed(self) -> None:
        read = database_sync_to_async(job_events_after)
        while self.followed:
            for job_id in list(self.followed):
                events = await read(
                    user=self.user, after_id=self.followed[job_id], job_id=job_id
                )
                for event in events:
                    self.followed[job_id] = event["event_id"]
                    await self._forward(event)
                    if event["status"] in TERMINAL:
                        self.followed.pop(job_id, None)
                        break
            if self.followed:
                await asyncio.sleep(FOLLOW_INTERVAL)

    async def _error(self, message: str, *, request: object = None) -> None:
        await self.send_json({"type": "error", "message": message, "request": request})
