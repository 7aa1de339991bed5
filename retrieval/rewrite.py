"""Decide whether to rewrite a chat turn into a standalone search query, and do it safely.

Follow-up turns ("make it shorter", "再来一个") retrieve nothing useful on their
own; rewriting them with the conversation gives the retriever a topic. But the
rewrite is an extra model call in the request path, so "auto" rewrites only the
turns that need it (the reference treated auto like always), and every call runs
under a hard timeout with the raw query as the fallback (the reference waited as
long as the HTTP client did). The model client is injected as a callable.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from retrieval.context import text_units, truncate_units

__all__ = [
    "RewriteMode",
    "RewriteResult",
    "call_with_timeout",
    "history_messages",
    "rewrite_prompt",
    "rewrite_query",
    "should_rewrite",
]

T = TypeVar("T")
Rewriter = Callable[[str, list[dict]], str]

SHORT_QUERY_UNITS = 4  # at most this many units and a query is treated as a follow-up
MAX_HISTORY_MESSAGES = 6  # last three user/assistant exchanges
MAX_MESSAGE_UNITS = 300
MAX_REWRITE_UNITS = 64  # longer output is not a search query; fall back
MAX_REWRITE_CHARS = 1000

# Words that point back into the conversation instead of naming a topic.
_REFERENTIAL_WORDS = frozenset(
    "it its this that these those them they again above same previous earlier "
    "former latter continue instead another more redo".split()
)
_REFERENTIAL_CJK = (
    "继续", "这个", "那个", "这些", "那些", "上面", "上述", "前面", "以上", "刚才",
    "之前", "同样", "一样", "照这", "按这", "这样", "那样", "它", "再来", "再写",
    "再做", "再给", "再次", "接着",
)  # fmt: skip
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$")
_LABEL = re.compile(
    r"^(?:rewritten\s+query|search\s+query|standalone\s+query|query|"
    r"改写后的查询|改写查询|检索词|查询)\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’`「」『』"


class RewriteMode(StrEnum):
    NEVER = "never"
    AUTO = "auto"
    ALWAYS = "always"


@dataclass(frozen=True)
class RewriteResult:
    """The query to search with; ``reason`` says why it was or was not rewritten."""

    query: str
    rewritten: bool
    reason: str


def _text(content: Any) -> str:
    """Text of an OpenAI message content: a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def history_messages(
    history: Sequence[Any], *, query: str = ""
) -> list[dict[str, str]]:
    """The last few user/assistant turns as plain ``{"role", "content"}`` text.

    System and tool messages, images and empty turns are dropped; a trailing user
    message equal to ``query`` is the current turn, not history; each message is
    clipped so one pasted document cannot crowd out the rest.
    """
    turns: list[dict[str, str]] = []
    for message in history:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        text = _text(message.get("content")).strip()
        if role in ("user", "assistant") and text:
            turns.append({"role": role, "content": text})
    if turns and turns[-1]["role"] == "user" and turns[-1]["content"] == query.strip():
        turns.pop()
    return [
        {"role": t["role"], "content": truncate_units(t["content"], MAX_MESSAGE_UNITS)}
        for t in turns[-MAX_HISTORY_MESSAGES:]
    ]


def is_referential(query: str) -> bool:
    """Whether the query points back into the conversation (English or Chinese)."""
    words = {w.lower() for w in _WORDS.findall(query)}
    return bool(words & _REFERENTIAL_WORDS) or any(m in query for m in _REFERENTIAL_CJK)


def _policy(*, mode: str, query: str, history: Sequence[Any]) -> tuple[bool, str]:
    mode = RewriteMode(mode)
    if not query.strip():
        return False, "empty query"
    if mode is RewriteMode.NEVER:
        return False, "mode never"
    if mode is RewriteMode.ALWAYS:
        return True, "mode always"
    if not history_messages(history, query=query):
        return False, "no history"
    if text_units(query) <= SHORT_QUERY_UNITS:
        return True, "short follow-up"
    if is_referential(query):
        return True, "refers to the conversation"
    return False, "query stands alone"


def should_rewrite(*, mode: str, query: str, history: Sequence[Any]) -> bool:
    """``auto`` rewrites only with history and a short or referential query."""
    return _policy(mode=mode, query=query, history=history)[0]


def call_with_timeout(fn: Callable[[], T], *, timeout: float) -> T:
    """Run ``fn`` in a daemon thread and give up after ``timeout`` seconds.

    The thread cannot be killed; it is left to finish in the background and its
    result discarded, which is why it must not hold locks the caller needs.
    Raises TimeoutError, or whatever ``fn`` raised.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="autoskill-model-call", daemon=True)
    worker.start()
    worker.join(max(timeout, 0))
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def clean_rewrite(raw: object) -> str:
    """One search line from the model output: no fences, JSON, labels or quotes."""
    text = raw.strip() if isinstance(raw, str) else ""
    text = _FENCE.sub("", text).strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found = data.get("query") or data.get("search_query")
            text = found.strip() if isinstance(found, str) else ""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip().strip(_QUOTES).strip()
    return " ".join(line.split())


def rewrite_query(
    *,
    query: str,
    history: Sequence[Any],
    mode: str,
    rewriter: Rewriter | None,
    timeout: float,
) -> RewriteResult:
    """The search query for this turn: the rewrite when policy and model agree, else raw."""
    raw = query.strip()
    if rewriter is None:
        return RewriteResult(query=raw, rewritten=False, reason="no rewriter")
    wanted, why = _policy(mode=mode, query=query, history=history)
    if not wanted:
        return RewriteResult(query=raw, rewritten=False, reason=why)
    if timeout <= 0:
        return RewriteResult(query=raw, rewritten=False, reason="timeout not positive")
    turns = history_messages(history, query=query)
    try:
        output = call_with_timeout(lambda: rewriter(raw, turns), timeout=timeout)
    except TimeoutError:
        return RewriteResult(
            query=raw, rewritten=False, reason=f"timed out after {timeout:g}s"
        )
    except Exception as exc:  # noqa: BLE001 - any model failure falls back
        reason = f"rewriter failed: {type(exc).__name__}"
        return RewriteResult(query=raw, rewritten=False, reason=reason)
    if isinstance(output, str) and len(output) > MAX_REWRITE_CHARS * 4:
        return RewriteResult(query=raw, rewritten=False, reason="output too long")
    cleaned = clean_rewrite(output)
    if not cleaned:
        return RewriteResult(query=raw, rewritten=False, reason="empty output")
    if len(cleaned) > MAX_REWRITE_CHARS or text_units(cleaned) > MAX_REWRITE_UNITS:
        return RewriteResult(query=raw, rewritten=False, reason="output too long")
    if cleaned.casefold() == raw.casefold():
        return RewriteResult(query=raw, rewritten=False, reason="unchanged")
    return RewriteResult(query=cleaned, rewritten=True, reason=why)


_SYSTEM = """\
You turn the latest message of a chat into one search query for finding reusable \
skills (saved instructions for recurring tasks) in the user's library.

- Work out what the user is asking for now. If the message continues the earlier \
task (a tweak, a constraint, "again", "make it shorter"), keep that task's subject \
and add the new requirement; if it starts a new task, describe only the new one.
- Replace pronouns and references ("it", "that one", "这个", "上面的") with what \
they stand for.
- Name the subject, the kind of output and the action, plus the few constraints \
that would make a saved skill fit: format, tone, audience, length, tools.
- Leave out pasted content, names and numbers that only matter this once, and \
filler such as "please" or "help me".
- Write in the language the user writes in.
- Reply with the query alone on one line: no quotes, labels or explanation."""


def rewrite_prompt(query: str, history: Sequence[Any]) -> list[dict[str, str]]:
    """Messages for the model client that will back ``rewriter``."""
    turns = history_messages(history, query=query)
    lines = [f"{t['role'].capitalize()}: {t['content']}" for t in turns]
    parts = []
    if lines:
        parts.append("Earlier conversation:\n" + "\n".join(lines))
    parts.append(f"Latest message:\n{query.strip()}")
    parts.append("Search query:")
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]
