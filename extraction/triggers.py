"""When a conversation turn should be sent to extraction.

Browser conversations carry their own policy (`extract_mode`, `extract_turn_limit`,
extract-now with a hint). The proxy is stateless, so it applies the original's rule
(the window must hold an earlier assistant turn: there is feedback to learn from)
and relies on the window hash: a client re-sending the same history finds the
existing job instead of starting another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from django.conf import settings

from autoskill_site.exceptions import InvalidInput
from extraction.evidence import message_text
from extraction.models import ExtractionJob, JobTrigger


class ExtractMode(StrEnum):
    AUTO = "auto"  # every `extract_turn_limit` user turns
    ALWAYS = "always"  # every user turn
    NEVER = "never"  # only when asked (extract-now)


def parse_extract_mode(value: object) -> ExtractMode:
    try:
        return ExtractMode(str(value or "").strip().lower())
    except ValueError as exc:
        raise InvalidInput(
            f"extract_mode must be one of {', '.join(m.value for m in ExtractMode)}; got {value!r}."
        ) from exc


def should_extract_turn(
    *, mode: str, turn_limit: int, turns_since_extraction: int
) -> bool:
    """Whether this browser turn schedules an extraction (counter includes this turn)."""
    mode = parse_extract_mode(mode)
    if not settings.AUTOSKILL_EXTRACT_ENABLED or mode is ExtractMode.NEVER:
        return False
    if mode is ExtractMode.ALWAYS:
        return True
    return turns_since_extraction >= max(1, int(turn_limit))


def _role(message: Any) -> str:
    return str(message.get("role") or "") if isinstance(message, Mapping) else ""


def proxy_window(
    messages: Sequence[Any], *, ingest_window: int | None = None
) -> list[Any] | None:
    """The window a proxied request contributes, or None when it does not qualify.

    It qualifies when, within the last `ingest_window` messages, an assistant turn
    precedes the final user message: the user is reacting to an answer.
    """
    size = ingest_window or settings.AUTOSKILL_INGEST_WINDOW
    window = [m for m in list(messages)[-size:] if isinstance(m, Mapping)]
    last_user = max((i for i, m in enumerate(window) if _role(m) == "user"), default=-1)
    if last_user <= 0 or not message_text(window[last_user].get("content")).strip():
        return None
    if not any(_role(m) == "assistant" for m in window[:last_user]):
        return None
    return window


def proxy_extraction_submit(
    *,
    user: Any,
    messages: Sequence[Any],
    reference: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    job_id: Any = None,
) -> tuple[ExtractionJob | None, bool]:
    """Queue an extraction for a proxied request if it qualifies; (job, created).

    `job_id` is the id the proxy already announced for a new job (see
    `proxy_window_job`)."""
    from extraction.services.run import extraction_submit

    if not settings.AUTOSKILL_EXTRACT_ENABLED:
        return None, False
    window = proxy_window(messages)
    if window is None:
        return None, False
    return extraction_submit(
        user=user, messages=window, trigger=JobTrigger.PROXY,
        reference=reference, source=source, max_messages=len(window), job_id=job_id,
    )  # fmt: skip


def proxy_window_job(*, user: Any, messages: Sequence[Any]) -> tuple[str, str] | None:
    """(job id, status) a qualifying proxied request will have, decided before the
    reply so the first stream chunk can carry it (the original's clients read it
    there): the live job of an identical window, or a fresh id for the job that
    `proxy_extraction_submit(job_id=...)` creates after the reply. None: no learning."""
    import uuid

    from extraction.evidence import window_fingerprint
    from extraction.jobs import live_job_for_window

    if not settings.AUTOSKILL_EXTRACT_ENABLED:
        return None
    window = proxy_window(messages)
    if window is None:
        return None
    existing = live_job_for_window(
        user=user, window_hash=window_fingerprint(window, max_messages=len(window))
    )
    if existing is not None:
        return str(existing.pk), existing.status
    return str(uuid.uuid4()), "scheduled"
