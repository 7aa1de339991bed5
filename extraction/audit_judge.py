"""The usage judge's side of the audit: the prompt a model answers and how its answer is read.

Pure (no database): ``judge_prompt`` turns one turn and its retrieved skills into
messages asking for a relevant/used verdict per skill; ``parse_judgments`` reads
the answer leniently (fences, chatter, string flags) and hands every skill the
answer leaves out to the keyword heuristic, labelled as such.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.context import ContextSkill, truncate_units
from retrieval.usage import UsageJudgment, heuristic_judgments

__all__ = [
    "MalformedJudgment",
    "Verdict",
    "heuristic_verdicts",
    "judge_prompt",
    "parse_judgments",
]

REPLY_UNITS = 1500  # the reply's head; enough to see which constraints it follows
PREVIEW_UNITS = 80
MAX_LIST_ITEMS = 8
MAX_OUTPUT_CHARS = 40_000
MAX_JSON_STARTS = 32  # bounds the scan: each try may read to the end
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


class MalformedJudgment(ValueError):
    """The judge's answer holds no list of verdicts."""


@dataclass(frozen=True)
class Verdict:
    """One skill's verdict and who gave it: ``"llm"`` or ``"heuristic"``."""

    judgment: UsageJudgment
    judge: str
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "skill_id": self.judgment.skill_id,
            "relevant": self.judgment.relevant,
            "used": self.judgment.used,
            "judge": self.judge,
            "reason": self.reason,
        }


_SYSTEM = """\
You audit whether saved skills shaped an assistant's reply. A skill is a set of \
instructions for a recurring task; a search retrieved these for the user's message, \
and "injected" says whether the assistant was shown the skill before replying.

Judge every skill on this one message and this one reply:
- relevant: the skill fits what the user is asking for now (the same kind of task \
and output). Shared words alone do not make it relevant.
- used: the reply depends on this skill's specific constraints or workflow (its \
format, steps, tone rules, tools) and would look different without it. Generic \
good practice that any answer would contain does not count. A skill that was not \
injected was not used.
- used implies relevant.
Be strict: when unsure, answer false. Give every id from the list exactly once \
and no other id.

Answer with JSON only: {"skills": [{"id": "<id>", "relevant": true, "used": \
false, "reason": "<a few words>"}]}"""


def _skill_data(skill: ContextSkill, injected: bool | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": skill.id,
        "name": skill.name,
        "title": skill.title,
        "description": truncate_units(skill.description, PREVIEW_UNITS * 2),
        "triggers": list(skill.triggers[:MAX_LIST_ITEMS]),
        "tags": list(skill.tags[:MAX_LIST_ITEMS]),
        "instructions_preview": truncate_units(skill.instructions, PREVIEW_UNITS),
    }
    if injected is not None:
        data["injected"] = injected
    return data


def judge_prompt(
    query: str,
    reply: str,
    skills: Sequence[ContextSkill],
    *,
    injected_ids: Collection[str] | None = None,
) -> list[dict[str, str]]:
    """Messages asking a model for a relevant/used verdict on every skill, as JSON."""
    injected = None if injected_ids is None else {str(i) for i in injected_ids}
    data = {
        "message": query.strip(),
        "reply": truncate_units(reply.strip(), REPLY_UNITS),
        "skills": [
            _skill_data(s, None if injected is None else s.id in injected)
            for s in skills
        ],
    }
    body = json.dumps(data, ensure_ascii=False, indent=1)
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"Message, reply and retrieved skills:\n{body}"},
    ]


def _flag(value: object) -> bool | None:
    """A verdict flag; None when it is neither a boolean nor a clear yes/no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def _entries(raw: object) -> list[Any]:
    """The list of verdict objects in the answer, fences and chatter tolerated."""
    if not isinstance(raw, str) or len(raw) > MAX_OUTPUT_CHARS:
        raise MalformedJudgment("output is not a short string")
    decoder = json.JSONDecoder()
    starts = [i for i, char in enumerate(raw) if char in "{["][:MAX_JSON_STARTS]
    for start in starts:
        try:
            data, _end = decoder.raw_decode(raw, start)
        except ValueError:
            continue
        if isinstance(data, dict):
            data = data.get("skills", data.get("judgments"))
            if isinstance(data, dict):  # {"skills": {"<id>": {...}}}
                data = [
                    {"id": key, **value}
                    for key, value in data.items()
                    if isinstance(value, dict)
                ]
        if isinstance(data, list):
            return data
        # A JSON value without verdicts (e.g. an inner object): keep scanning.
    raise MalformedJudgment("no list of verdicts")


def parse_judgments(
    raw: object, skills: Sequence[ContextSkill], query: str, *, reply: str = ""
) -> list[Verdict]:
    """Verdicts for ``skills`` in order from the judge's answer.

    Unknown ids and repeats are ignored; ``used`` only counts when ``relevant``;
    skills the answer leaves out (or gives unreadable flags for) are judged by the
    keyword heuristic on ``query`` and ``reply`` and labelled ``"heuristic"``.
    Raises ``MalformedJudgment`` when the answer holds no verdict list at all.
    """
    entries = _entries(raw)
    by_id = {skill.id.strip().casefold(): skill for skill in skills}
    found: dict[str, Verdict] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        key = str(entry.get("id", entry.get("skill_id", ""))).strip().casefold()
        skill = by_id.get(key)
        if skill is None or skill.id in found:
            continue
        relevant, used = _flag(entry.get("relevant")), _flag(entry.get("used"))
        if relevant is None or used is None:
            continue
        reason = entry.get("reason")
        found[skill.id] = Verdict(
            judgment=UsageJudgment(
                skill_id=skill.id,
                relevant=relevant,
                used=used and relevant,
                query=query,
            ),
            judge="llm",
            reason=reason.strip()[:200] if isinstance(reason, str) else "",
        )
    missing = [skill for skill in skills if skill.id not in found]
    for verdict in heuristic_verdicts(
        query, reply, missing, why="missing from judge answer"
    ):
        found[verdict.judgment.skill_id] = verdict
    return [found[skill.id] for skill in skills]


def heuristic_verdicts(
    query: str, reply: str, skills: Sequence[ContextSkill], *, why: str
) -> list[Verdict]:
    """The keyword heuristic's verdicts, labelled ``"heuristic"`` with the reason why."""
    return [
        Verdict(judgment=j, judge="heuristic", reason=why)
        for j in heuristic_judgments(query, reply, skills)
    ]
