"""Optionally let a model veto retrieved skills before they are injected.

Retrieval ranks by similarity, not by fit; a selector reads the candidates and
keeps only the ones that would change the answer. Choosing none is a valid answer
and is respected (the reference fell back to keyword overlap on an empty choice,
so a sole candidate could never be vetoed). Only a broken answer (timeout,
exception, unparseable output) falls back, and then to keeping every candidate:
the selector is a filter, and a failed filter should not hide skills.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.context import ContextSkill, truncate_units
from retrieval.rewrite import call_with_timeout

__all__ = ["SelectionResult", "parse_selection", "select_skills", "selection_prompt"]

Selector = Callable[[list[dict]], str]

PREVIEW_UNITS = 60
MAX_LIST_ITEMS = 8
MAX_RESOURCES = 12
MAX_OUTPUT_CHARS = 20_000
_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$")


class MalformedSelection(ValueError):
    """The selector's answer is not the JSON object the prompt asks for."""


@dataclass(frozen=True)
class SelectionResult:
    """Ids to inject, in candidate order; ``used_llm`` is False on every fallback."""

    selected_ids: tuple[str, ...]
    reason: str
    used_llm: bool


def parse_selection(raw: object) -> tuple[list[str], str]:
    """``(ids, reason)`` from ``{"selected": [...], "reason": "..."}``, fences allowed."""
    if not isinstance(raw, str) or len(raw) > MAX_OUTPUT_CHARS:
        raise MalformedSelection("output is not a short string")
    text = _FENCE.sub("", raw.strip()).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise MalformedSelection("no JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except ValueError as exc:
        raise MalformedSelection("invalid JSON") from exc
    if not isinstance(data, dict) or "selected" not in data:
        raise MalformedSelection('missing "selected"')
    selected = data["selected"]
    if isinstance(selected, str | int):
        selected = [selected]
    if not isinstance(selected, list) or not all(
        isinstance(item, str | int) and not isinstance(item, bool) for item in selected
    ):
        raise MalformedSelection('"selected" is not a list of ids')
    reason = data.get("reason")
    return [str(item).strip() for item in selected], (
        reason.strip() if isinstance(reason, str) else ""
    )


def select_skills(
    *,
    query: str,
    candidates: Sequence[ContextSkill],
    selector: Selector | None,
    timeout: float,
) -> SelectionResult:
    """Ask ``selector`` which candidates to keep; on any failure keep them all."""
    every = tuple(c.id for c in candidates)
    if not candidates:
        return SelectionResult(selected_ids=(), reason="no candidates", used_llm=False)
    if selector is None:
        return SelectionResult(
            selected_ids=every, reason="no selector: kept all", used_llm=False
        )
    messages = selection_prompt(query, candidates)
    try:
        raw = call_with_timeout(lambda: selector(messages), timeout=timeout)
        chosen, why = parse_selection(raw)
    except TimeoutError:
        reason = f"selector timed out after {timeout:g}s: kept all"
        return SelectionResult(selected_ids=every, reason=reason, used_llm=False)
    except MalformedSelection as exc:
        reason = f"selector output malformed ({exc}): kept all"
        return SelectionResult(selected_ids=every, reason=reason, used_llm=False)
    except Exception as exc:  # noqa: BLE001 - any model failure falls back
        reason = f"selector failed ({type(exc).__name__}): kept all"
        return SelectionResult(selected_ids=every, reason=reason, used_llm=False)
    wanted = set(chosen)
    kept = tuple(cid for cid in every if cid in wanted)
    unknown = len(wanted - set(every))
    notes = [why or ("none selected" if not kept else "selected")]
    if unknown:
        notes.append(f"dropped {unknown} unknown id(s)")
    return SelectionResult(selected_ids=kept, reason="; ".join(notes), used_llm=True)


_SYSTEM = """\
You decide which saved skills an assistant should read before answering a user's \
message. Each skill is a set of instructions for a recurring task, found by a \
similarity search, so some candidates only look related.

- Keep a skill only if following it would clearly improve the answer to this \
message: same kind of task and output, and its constraints apply.
- Matching words are not enough. When unsure, leave the skill out. Keeping none \
is a normal answer.
- Resource paths are a weak hint; judge by description, triggers and preview.
- Use only ids from the list.

Answer with JSON only: {"selected": ["<id>", ...], "reason": "<one short sentence>"}"""


def _candidate(skill: ContextSkill) -> dict[str, Any]:
    return {
        "id": skill.id,
        "name": skill.name,
        "title": skill.title,
        "description": truncate_units(skill.description, PREVIEW_UNITS * 2),
        "tags": list(skill.tags[:MAX_LIST_ITEMS]),
        "triggers": list(skill.triggers[:MAX_LIST_ITEMS]),
        "resources": list(skill.resources[:MAX_RESOURCES]),
        "instructions_preview": truncate_units(skill.instructions, PREVIEW_UNITS),
    }


def selection_prompt(
    query: str, candidates: Sequence[ContextSkill]
) -> list[dict[str, str]]:
    """Messages for the model client that will back ``selector``."""
    data = {
        "message": query.strip(),
        "candidates": [_candidate(skill) for skill in candidates],
    }
    body = json.dumps(data, ensure_ascii=False, indent=1)
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"Message and candidate skills:\n{body}"},
    ]
