"""Chat sessions of the browser and terminal chat: create, load, configure, export.

Every function is keyed by the user: a session id that is malformed, unknown or
someone else's is the same NotFound, so ids of other people's sessions cannot be
probed. The turn itself lives in `proxy.chat_service`, commands in `proxy.chat_commands`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from autoskill_site.exceptions import InvalidInput, NotFound
from autoskill_site.sanitize import without_nul
from extraction.triggers import parse_extract_mode
from proxy.models import (
    CHAT_MAX_TOP_K,
    ChatMessage,
    ChatMessageStatus,
    ChatRewriteMode,
    ChatRole,
    ChatSession,
)
from retrieval.search import normalise_scope

__all__ = [
    "DEFAULT_TITLE",
    "SETTING_FIELDS",
    "chat_history",
    "chat_message_append",
    "chat_session_clear",
    "chat_session_configure",
    "chat_session_create",
    "chat_session_delete",
    "chat_session_export_json",
    "chat_session_get",
    "chat_session_list",
    "chat_session_rename",
    "chat_session_settings",
    "clean_chat_settings",
]

DEFAULT_TITLE = "New chat"
TITLE_FROM_INPUT_CHARS = 48
MAX_TITLE_CHARS = 200
# The history sent upstream: the original's 100 turns, as messages.
MAX_HISTORY_MESSAGES = 200
SETTING_FIELDS = (
    "scope",
    "top_k",
    "min_score",
    "rewrite_mode",
    "extract_mode",
    "extract_turn_limit",
)


def _whole_number(name: str, value: object, *, low: int, high: int | None) -> int:
    text = str(value).strip()
    try:
        number = int(text)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < low:
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidInput(f"{name} must be a whole number {bound}; got {value!r}.")
    if high is not None and number > high:
        raise InvalidInput(
            f"{name} must be a whole number between {low} and {high}; got {value!r}."
        )
    return number


def _rewrite_mode(value: object) -> str:
    text = str(value or "").strip().lower()
    if text not in ChatRewriteMode.values:
        choices = "|".join(ChatRewriteMode.values)
        raise InvalidInput(f"rewrite_mode must be one of {choices}; got {value!r}.")
    return text


def _min_score(value: object) -> float:
    try:
        score = float(str(value).strip())
    except (TypeError, ValueError):
        score = float("nan")
    if not 0.0 <= score <= 1.0:  # also refuses NaN
        raise InvalidInput(f"min_score must be a number from 0 to 1; got {value!r}.")
    return score


def clean_chat_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """Validated session settings (unknown names refused), as the model stores them."""
    unknown = sorted(set(raw) - set(SETTING_FIELDS))
    if unknown:
        raise InvalidInput(
            f"Unknown chat setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(SETTING_FIELDS)}."
        )
    cleaners = {
        "scope": normalise_scope,
        "top_k": lambda v: _whole_number("top_k", v, low=1, high=CHAT_MAX_TOP_K),
        "min_score": _min_score,
        "rewrite_mode": _rewrite_mode,
        "extract_mode": lambda v: parse_extract_mode(v).value,
        "extract_turn_limit": lambda v: _whole_number(
            "extract_turn_limit", v, low=1, high=None
        ),
    }
    return {name: cleaners[name](value) for name, value in raw.items()}


def chat_session_settings(session: ChatSession) -> dict[str, Any]:
    """The session's retrieval and extraction settings."""
    return {name: getattr(session, name) for name in SETTING_FIELDS}


def _clean_title(title: object) -> str:
    text = " ".join(without_nul(str(title or "")).split())
    if not text:
        raise InvalidInput("The title must not be empty.")
    return text[:MAX_TITLE_CHARS]


def chat_session_create(
    *, user: Any, title: str = "", settings: dict[str, Any] | None = None
) -> ChatSession:
    """Start a session with the AUTOSKILL_* defaults, overridden by `settings`."""
    session = ChatSession(
        owner=user,
        title=_clean_title(title) if title.strip() else DEFAULT_TITLE,
        **clean_chat_settings(dict(settings or {})),
    )
    session.full_clean()
    session.save()
    return session


def chat_session_list(*, user: Any) -> QuerySet[ChatSession]:
    """The user's sessions, most recently active first."""
    return ChatSession.objects.filter(owner_id=user.pk).order_by("-updated_at")


def chat_session_get(
    *, user: Any, session_id: object, lock: bool = False
) -> ChatSession:
    """The user's session; NotFound for a malformed, unknown or foreign id."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:
        raise NotFound(f"No chat session {str(session_id)[:80]!r}.") from None
    query = ChatSession.objects.select_related("owner")
    if lock:
        query = query.select_for_update(of=("self",))
    session = query.filter(pk=pk, owner_id=user.pk).first()
    if session is None:
        raise NotFound(f"No chat session {pk}.")
    return session


def chat_session_rename(*, user: Any, session_id: object, title: str) -> ChatSession:
    """Give the session a new title (whitespace collapsed, at most 200 characters)."""
    session = chat_session_get(user=user, session_id=session_id)
    session.title = _clean_title(title)
    session.save(update_fields=["title", "updated_at"])
    return session


def chat_session_delete(*, user: Any, session_id: object) -> None:
    """Delete the session and its messages."""
    chat_session_get(user=user, session_id=session_id).delete()


@transaction.atomic
def chat_session_configure(
    *, user: Any, session_id: object, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply validated setting changes; return the settings that changed value."""
    session = chat_session_get(user=user, session_id=session_id, lock=True)
    cleaned = clean_chat_settings(changes)
    changed = {k: v for k, v in cleaned.items() if getattr(session, k) != v}
    if changed:
        for name, value in changed.items():
            setattr(session, name, value)
        session.save(update_fields=[*changed, "updated_at"])
    return changed


@transaction.atomic
def chat_session_clear(*, session: ChatSession) -> int:
    """Start the conversation over: drop its messages and the extraction counter."""
    deleted, _ = ChatMessage.objects.filter(session_id=session.pk).delete()
    ChatSession.objects.filter(pk=session.pk).update(
        turns_since_extraction=0, updated_at=timezone.now()
    )
    session.turns_since_extraction = 0
    return deleted


def chat_message_append(
    *,
    session: ChatSession,
    role: str,
    content: str,
    status: str = ChatMessageStatus.COMPLETE,
    error: str = "",
    trace: dict[str, Any] | None = None,
) -> ChatMessage:
    """Append a message under the next seq; call with the session row locked."""
    # PostgreSQL cannot store NUL; a user's paste or a model's reply may hold one.
    content, error, trace = without_nul(content), without_nul(error), without_nul(trace)
    last = ChatMessage.objects.filter(session_id=session.pk).aggregate(m=Max("seq"))
    message = ChatMessage(
        session=session,
        seq=(last["m"] or 0) + 1,
        role=role,
        content=content,
        status=status,
        error=error[:500],
        trace=trace or {},
    )
    message.full_clean(validate_unique=False, validate_constraints=False)
    message.save()
    if role == ChatRole.USER and session.title == DEFAULT_TITLE:
        # The original's rule: the first input names the conversation.
        title = " ".join(content.split())
        if len(title) > TITLE_FROM_INPUT_CHARS:
            title = title[: TITLE_FROM_INPUT_CHARS - 1] + "…"
        session.title = title or DEFAULT_TITLE
    session.save(update_fields=["title", "updated_at"])
    return message


def chat_history(*, session: ChatSession) -> list[dict[str, str]]:
    """The conversation as upstream messages: failed replies and empty texts left out."""
    rows = (
        ChatMessage.objects.filter(session_id=session.pk)
        .exclude(status=ChatMessageStatus.ERROR)
        .exclude(content="")
        .order_by("-seq")
        .values_list("role", "content")[:MAX_HISTORY_MESSAGES]
    )
    return [{"role": role, "content": content} for role, content in reversed(rows)]


def _message_json(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error": message.error,
        "created_at": message.created_at.isoformat(),
        "trace": message.trace,
    }


def chat_session_export_json(*, user: Any, session_id: object) -> dict[str, Any]:
    """The whole session (settings, messages, per-turn traces) as a JSON document."""
    session = chat_session_get(user=user, session_id=session_id)
    messages = ChatMessage.objects.filter(session_id=session.pk).order_by("seq")
    return {
        "object": "autoskill.chat_session",
        "version": 1,
        "exported_at": timezone.now().isoformat(),
        "session": {
            "id": str(session.pk),
            "title": session.title,
            "created_at": session.created_at.isoformat(),
            "updated_at": session.updated_at.isoformat(),
            "settings": chat_session_settings(session),
            "turns_since_extraction": session.turns_since_extraction,
        },
        "messages": [_message_json(m) for m in messages],
    }
