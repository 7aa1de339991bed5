"""The evidence window an extraction looks at, built once and redacted before anything sees it.

User turns are the evidence; assistant turns are context only. The original folded
both into one prose block (and its offline importer into one *user* message), so an
assistant's invented checklist could become a "user rule". Here the separation is
structural: the payload has separate fields, and only user text can justify a skill.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoskill_site.sanitize import without_nul
from extraction.redaction import redact_text, redact_value

ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGE_CHARS = 8_000
MAX_EVENT_CHARS = 2_000
MAX_EVENTS = 60
MAX_HINT_CHARS = 1_000


def message_text(content: Any) -> str:
    """Text of an OpenAI message content: a string, or a list of typed/str parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if isinstance(content, Mapping) and isinstance(content.get("text"), str):
        return content["text"]
    return ""


def _clip(text: str, limit: int) -> str:
    """Keep head and tail: a pasted document's instructions are often at either end."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return (
        f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"
    )


def _event(raw: Any) -> dict[str, Any]:
    event = dict(raw) if isinstance(raw, Mapping) else {"value": raw}
    text = json.dumps(event, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > MAX_EVENT_CHARS:
        return {
            "event_type": event.get("event_type", "event"),
            "summary": _clip(text, MAX_EVENT_CHARS),
        }
    return event


@dataclass(frozen=True)
class EvidenceWindow:
    """Redacted messages (+ tool events) and the hint; `window_hash` identifies them."""

    messages: tuple[dict[str, str], ...]
    events: tuple[dict[str, Any], ...] = ()
    hint: str = ""
    window_hash: str = field(default="")

    @property
    def user_turns(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "user"]

    @property
    def is_empty(self) -> bool:
        return not self.user_turns and not self.events and not self.hint

    def payload(self) -> dict[str, Any]:
        """What the extraction model receives (all of it already redacted)."""
        return {
            "user_turns": self.user_turns,
            "conversation": [
                {"role": m["role"], "content": m["content"]} for m in self.messages
            ],
            "tool_events": list(self.events),
            "hint": self.hint or None,
        }


def window_hash(
    messages: Sequence[Mapping[str, str]], events: Sequence[Any], hint: str
) -> str:
    body = json.dumps(
        {"m": list(messages), "e": list(events), "h": hint},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _normalised(messages: Sequence[Any]) -> list[dict[str, str]]:
    cleaned: list[dict[str, str]] = []
    for raw in messages:
        if not isinstance(raw, Mapping):
            continue
        role = str(raw.get("role") or "user").strip().lower()
        role = role if role in ROLES else "user"
        text = without_nul(message_text(raw.get("content"))).strip()
        if text:
            cleaned.append({"role": role, "content": text})
    return cleaned


def window_fingerprint(
    messages: Sequence[Any],
    *,
    events: Sequence[Any] = (),
    hint: str | None = None,
    max_messages: int = 0,
) -> str:
    """The window's identity, computed before redaction so a caller can look a window
    up cheaply (the proxy does, to name the job in its first stream chunk)."""
    cleaned = _normalised(messages)
    if max_messages > 0:
        cleaned = cleaned[-max_messages:]
    return window_hash(cleaned, list(events)[-MAX_EVENTS:], str(hint or "").strip())


def build_window(
    messages: Sequence[Any],
    *,
    events: Sequence[Any] = (),
    hint: str | None = None,
    max_messages: int = 0,
) -> EvidenceWindow:
    """Normalise, redact and clip; `window_hash` is the window's fingerprint."""
    cleaned = _normalised(messages)
    if max_messages > 0:
        cleaned = cleaned[-max_messages:]
    redacted = [
        {
            "role": m["role"],
            "content": _clip(redact_text(m["content"]), MAX_MESSAGE_CHARS),
        }
        for m in cleaned
    ]
    # Redact before clipping: a cut could leave a key too short to recognise.
    clipped_events = [_event(redact_value(e)) for e in list(events)[-MAX_EVENTS:]]
    clean_hint = redact_text(str(hint or "").strip())[:MAX_HINT_CHARS]
    return EvidenceWindow(
        messages=tuple(redacted),
        events=tuple(clipped_events),
        hint=clean_hint,
        window_hash=window_fingerprint(
            messages, events=events, hint=hint, max_messages=max_messages
        ),
    )
