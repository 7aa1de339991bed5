"""The usage audit: after a reply, judge which retrieved skills mattered, then count it.

Counters exist so that skills which keep being retrieved but never shape a reply
get archived (``retrieval.usage.usage_prune``). A model judge is the accurate way
to tell, but a second model call on every turn doubled the reference's cost, so
only a sampled share of turns (``AUTOSKILL_USAGE_AUDIT_RATE``) goes to the model
and the rest, like every turn the model cannot judge, to the keyword heuristic.
Every verdict is recorded under the name of whoever gave it.

Sampling is deterministic per turn: with an ``rng`` (tests) it draws
``rng.random()``; otherwise it hashes (user, normalised query, reply), so a
retried task makes the same choice while the same question asked again with a
different reply gets a fresh draw.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from autoskill_site.providers.llm import LLMClient, LLMError
from retrieval.context import ContextSkill, truncate_units
from retrieval.llm_hooks import llm_usable
from retrieval.usage import (
    UsageJudgment,
    heuristic_judgments,
    query_key,
    usage_prune,
    usage_record,
)
from skills.models import Skill

__all__ = [
    "MalformedJudgment",
    "Verdict",
    "audit_sampled",
    "judge_prompt",
    "parse_judgments",
    "usage_audit_run",
    "usage_audit_schedule",
]

logger = logging.getLogger(__name__)

MAX_JUDGED_SKILLS = 10  # more than this per turn are judged by the heuristic
REPLY_UNITS = 1500  # the reply's head; enough to see which constraints it follows
PREVIEW_UNITS = 80
MAX_LIST_ITEMS = 8
MAX_OUTPUT_CHARS = 40_000
MAX_JSON_STARTS = 32  # bounds the scan: each try may read to the end
DEFAULT_AUDIT_TIMEOUT = 30.0
MAX_TASK_REPLY_CHARS = 20_000  # the queued row stays small; judges read less
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
    for judgment in heuristic_judgments(query, reply, missing):
        found[judgment.skill_id] = Verdict(
            judgment=judgment, judge="heuristic", reason="missing from judge answer"
        )
    return [found[skill.id] for skill in skills]


def audit_sampled(
    *,
    rate: float,
    user_key: object,
    query: str,
    reply: str,
    rng: random.Random | None = None,
) -> bool:
    """Whether this turn goes to the model judge (see the module docstring)."""
    if not rate > 0:  # also catches NaN
        return False
    if rate >= 1:
        return True
    if rng is not None:
        return rng.random() < rate
    reply_key = hashlib.sha1(reply.encode("utf-8"), usedforsecurity=False).hexdigest()
    seed = f"{user_key}\x1f{query_key(query)}\x1f{reply_key}".encode()
    draw = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") / 2**64
    return draw < rate


def _heuristic(
    query: str, reply: str, skills: Sequence[ContextSkill], why: str
) -> list[Verdict]:
    return [
        Verdict(judgment=j, judge="heuristic", reason=why)
        for j in heuristic_judgments(query, reply, skills)
    ]


def _model_verdicts(
    *,
    llm: LLMClient,
    query: str,
    reply: str,
    skills: Sequence[ContextSkill],
    injected: Collection[str],
) -> tuple[list[Verdict] | None, str]:
    """The judge's verdicts, or None and why the heuristic must judge instead."""
    judged, overflow = skills[:MAX_JUDGED_SKILLS], skills[MAX_JUDGED_SKILLS:]
    timeout = float(
        getattr(settings, "AUTOSKILL_USAGE_AUDIT_TIMEOUT", DEFAULT_AUDIT_TIMEOUT)
    )
    try:
        answer = llm.complete(
            judge_prompt(query, reply, judged, injected_ids=injected),
            temperature=0.0,
            json_mode=True,
            timeout=timeout,
        )
        verdicts = parse_judgments(answer.text, judged, query, reply=reply)
    except LLMError as exc:
        logger.warning("Usage judge failed, heuristic judges instead: %s", exc)
        return None, f"judge failed: {exc}"
    except MalformedJudgment as exc:
        logger.warning("Usage judge answer unreadable, heuristic judges: %s", exc)
        return None, f"judge output malformed: {exc}"
    return verdicts + _heuristic(query, reply, overflow, "beyond judge limit"), ""


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _canonical(value: object) -> str:
    """One spelling per id, so UUID objects and strings of any case compare equal."""
    parsed = _uuid(value)
    return str(parsed) if parsed is not None else str(value)


def _own_skills(
    user: Any, skills: Iterable[ContextSkill]
) -> tuple[list[ContextSkill], list[str]]:
    """The user's own skills, and the ids of the rest (library, other users, junk).

    Filtering before judging keeps library skills out of the model's prompt: their
    counters are never kept, so judging them would be paid-for noise.
    """
    skills = list(skills)
    parsed = {s.id: _uuid(s.id) for s in skills}
    owned = set(
        Skill.objects.filter(
            pk__in=[pk for pk in parsed.values() if pk is not None], owner=user
        ).values_list("pk", flat=True)
    )
    mine = [s for s in skills if parsed[s.id] in owned]
    return mine, [s.id for s in skills if parsed[s.id] not in owned]


def _only_injected(verdict: Verdict, injected: Collection[str]) -> Verdict:
    """A skill the assistant never saw cannot have been used, whatever a judge says."""
    if not verdict.judgment.used or _canonical(verdict.judgment.skill_id) in injected:
        return verdict
    judgment = dataclasses.replace(verdict.judgment, used=False)
    return dataclasses.replace(verdict, judgment=judgment)


def usage_audit_run(
    *,
    user: Any,
    query: str,
    reply: str,
    skills: Sequence[ContextSkill],
    injected_ids: Iterable[object],
    llm: LLMClient | None = None,
    rate: float | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Judge one turn's retrieved skills, record the counters, prune the stale ones.

    ``rate`` defaults to ``AUTOSKILL_USAGE_AUDIT_RATE``; a sampled turn is judged by
    ``llm`` unless it is missing, offline or fails, and every other turn by the
    keyword heuristic. Only the user's own skills are judged and counted.
    """
    injected = {_canonical(i) for i in injected_ids}
    mine, ignored = _own_skills(user, skills)
    result: dict[str, Any] = {
        "judge": "none",
        "sampled": False,
        "note": "no own skills retrieved",
        "judgments": [],
        "counted": [],
        "duplicates": [],
        "ignored": ignored,
        "pruned": [],
    }
    if not mine:
        return result
    if rate is None:
        rate = float(settings.AUTOSKILL_USAGE_AUDIT_RATE)
    sampled = audit_sampled(
        rate=rate, user_key=getattr(user, "pk", user), query=query, reply=reply, rng=rng
    )
    verdicts: list[Verdict] | None = None
    if not sampled:
        note = "not sampled"
    elif llm is None or not llm_usable(llm):
        note = "no judge model"
    else:
        verdicts, note = _model_verdicts(
            llm=llm, query=query, reply=reply, skills=mine, injected=injected
        )
    if verdicts is None:
        verdicts = _heuristic(query, reply, mine, note)
    verdicts = [_only_injected(v, injected) for v in verdicts]
    for judge in ("llm", "heuristic"):
        group = [v.judgment for v in verdicts if v.judge == judge]
        if group:
            recorded = usage_record(user=user, judgments=group, judge=judge)
            result["counted"] += recorded.counted
            result["duplicates"] += recorded.duplicates
            result["ignored"] += recorded.ignored
    by_model = any(v.judge == "llm" for v in verdicts)
    result.update(
        judge="llm" if by_model else "heuristic",
        sampled=sampled,
        note=note,
        judgments=[v.as_dict() for v in verdicts],
        pruned=usage_prune(user=user, skill_ids=[s.id for s in mine]),
    )
    return result


def usage_audit_schedule(
    *,
    user: Any,
    query: str,
    reply: str,
    skills: Sequence[ContextSkill],
    injected_ids: Iterable[object],
) -> None:
    """Queue the audit on the ``audit`` queue once the current transaction commits.

    Nothing is queued when no skill was retrieved. A failing enqueue is logged and
    never breaks the chat turn that scheduled it (``robust``).
    """
    if not skills:
        return
    # Imported here: the task module imports this one.
    from extraction.audit_tasks import skill_to_payload, usage_audit_task

    kwargs = {
        "user_id": user.pk,
        "query": query,
        "reply": reply[:MAX_TASK_REPLY_CHARS],
        "skills": [skill_to_payload(s) for s in skills],
        "injected_ids": [str(i) for i in injected_ids],
    }
    transaction.on_commit(lambda: usage_audit_task.enqueue(**kwargs), robust=True)
