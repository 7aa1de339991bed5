"""The usage audit: after a reply, judge which retrieved skills mattered, then count it.

Counters exist so that skills which keep being retrieved but never shape a reply
get archived (``retrieval.usage.usage_prune``). A model judge is the accurate way
to tell, but a second model call on every turn doubled the reference's cost, so
only a sampled share of turns (``AUTOSKILL_USAGE_AUDIT_RATE``) goes to the model
and the rest, like every turn the model cannot judge, to the keyword heuristic.
Every verdict is recorded under the name of whoever gave it. The judge's prompt
and the reading of its answer live in ``extraction.audit_judge``.

Sampling is deterministic per turn: with an ``rng`` (tests) it draws
``rng.random()``; otherwise it hashes (user, normalised query, reply), so a
retried task makes the same choice while the same question asked again with a
different reply gets a fresh draw.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from autoskill_site.providers.llm import LLMClient, LLMError
from extraction.audit_judge import (
    MalformedJudgment,
    Verdict,
    heuristic_verdicts,
    judge_prompt,
    parse_judgments,
)
from retrieval.context import ContextSkill
from retrieval.llm_hooks import llm_usable
from retrieval.usage import query_key, usage_prune, usage_record
from skills.models import Skill

__all__ = [
    "MalformedJudgment",
    "Verdict",
    "audit_nothing",
    "audit_sampled",
    "judge_prompt",
    "parse_judgments",
    "usage_audit_run",
    "usage_audit_schedule",
]

logger = logging.getLogger(__name__)

MAX_JUDGED_SKILLS = 10  # more than this per turn are judged by the heuristic
DEFAULT_AUDIT_TIMEOUT = 30.0
MAX_TASK_REPLY_CHARS = 20_000  # the queued row stays small; judges read less


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
    return verdicts + heuristic_verdicts(
        query, reply, overflow, why="beyond judge limit"
    ), ""


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


def audit_nothing(*, note: str, ignored: list[Any]) -> dict[str, Any]:
    """The result of an audit that judged nothing, in the shape every audit returns."""
    return {
        "judge": "none",
        "sampled": False,
        "note": note,
        "judgments": [],
        "counted": [],
        "duplicates": [],
        "ignored": ignored,
        "pruned": [],
    }


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
    result = audit_nothing(note="no own skills retrieved", ignored=ignored)
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
        verdicts = heuristic_verdicts(query, reply, mine, why=note)
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
