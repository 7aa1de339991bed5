"""Per (user, skill) retrieval audit counters, and archiving the skills nobody uses.

Counters exist to prune: a skill that keeps being retrieved but never shapes a
reply is noise in every context it enters. Pruning therefore looks only at
*judged* retrievals (an LLM or the keyword heuristic gave a used/unused verdict);
the reference pruned on raw retrievals even without any judge, so every skill
retrieved 40 times was deleted, and could not switch pruning off with 0.
Pruning archives through ``skills.services`` (a version row records why); it
never deletes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from autoskill_site.exceptions import InvalidInput, NotFound
from retrieval.context import ContextSkill
from retrieval.text import tokenize
from skills.models import Skill, SkillStatus, SkillUsage
from skills.services import skill_archive

__all__ = [
    "JUDGES",
    "UsageJudgment",
    "UsageResult",
    "heuristic_judgments",
    "query_key",
    "usage_prune",
    "usage_record",
    "usage_stale_q",
    "usage_stats",
]

JUDGES = ("llm", "heuristic", "none")
DEFAULT_DEDUP_WINDOW_SECONDS = 600
RECENT_QUERIES_CAP = 64
USED_PREFIX = "used:"  # recent_queries entry marking that `used` was counted
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class UsageJudgment:
    """One verdict on one retrieved skill for one query; ``used`` implies ``relevant``."""

    skill_id: str
    relevant: bool
    used: bool
    query: str


@dataclass(frozen=True)
class UsageResult:
    """What a recording did: counted, de-duplicated, or ignored (not the user's own)."""

    counted: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


def query_key(query: str) -> str:
    """SHA-1 of the lowercased, whitespace-collapsed query (first 200 characters)."""
    normalised = _WS.sub(" ", query.lower()).strip()[:200]
    return hashlib.sha1(normalised.encode("utf-8"), usedforsecurity=False).hexdigest()


def _window_ms() -> int:
    seconds = getattr(
        settings, "AUTOSKILL_USAGE_DEDUP_WINDOW", DEFAULT_DEDUP_WINDOW_SECONDS
    )
    return int(float(seconds) * 1000)


def _parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _trim(recent: dict[str, Any], *, now_ms: int, window_ms: int) -> dict[str, int]:
    """Drop entries outside the window, then keep the newest ``RECENT_QUERIES_CAP``."""
    live = {
        key: int(stamp)
        for key, stamp in recent.items()
        if isinstance(stamp, int | float) and now_ms - int(stamp) < window_ms
    }
    newest = sorted(live.items(), key=lambda item: (-item[1], item[0]))
    return dict(newest[:RECENT_QUERIES_CAP])


def usage_record(
    *,
    user: Any,
    judgments: Sequence[UsageJudgment],
    judge: str,
    now: datetime | None = None,
) -> UsageResult:
    """Count one turn's verdicts on the user's own skills.

    A query key seen for a skill within the window (``AUTOSKILL_USAGE_DEDUP_WINDOW``
    seconds, default 600) is a repeat: it does not count as a retrieval again, and
    ``used`` is counted at most once per key and window. The window is fixed from
    the counted sighting, so a query repeated every few minutes still counts once
    per window. Rows are locked in skill-id order, so concurrent recorders serialise
    without deadlocks and lose no increments.
    """
    if judge not in JUDGES:
        raise InvalidInput(f"Unknown judge {judge!r}; expected one of {JUDGES}.")
    now = now or timezone.now()
    now_ms = int(now.timestamp() * 1000)
    window_ms = _window_ms()
    parsed = {id(j): _parse_uuid(j.skill_id) for j in judgments}
    wanted = {pk for pk in parsed.values() if pk is not None}
    own = set(
        Skill.objects.filter(pk__in=wanted, owner=user).values_list("pk", flat=True)
    )
    counted: list[str] = []
    duplicates: list[str] = []
    ignored = [str(j.skill_id) for j in judgments if parsed[id(j)] not in own]
    mine = sorted(
        (j for j in judgments if parsed[id(j)] in own),
        key=lambda j: str(parsed[id(j)]),
    )
    if not mine:
        return UsageResult(ignored=tuple(ignored))
    with transaction.atomic():
        present = set(
            SkillUsage.objects.filter(user=user, skill_id__in=own).values_list(
                "skill_id", flat=True
            )
        )
        for pk in sorted(own - present, key=str):
            # get_or_create retries the read when a concurrent insert wins the race.
            SkillUsage.objects.get_or_create(user=user, skill_id=pk)
        rows = {
            row.skill_id: row
            for row in SkillUsage.objects.select_for_update()
            .filter(user=user, skill_id__in=own)
            .order_by("skill_id")
        }
        for judgment in mine:
            row = rows[parsed[id(judgment)]]
            if _apply(
                row, judgment, judge=judge, now=now, now_ms=now_ms, window_ms=window_ms
            ):
                counted.append(str(row.skill_id))
            else:
                duplicates.append(str(row.skill_id))
    return UsageResult(
        counted=tuple(counted), duplicates=tuple(duplicates), ignored=tuple(ignored)
    )


def _apply(
    row: SkillUsage,
    judgment: UsageJudgment,
    *,
    judge: str,
    now: datetime,
    now_ms: int,
    window_ms: int,
) -> bool:
    """Update one locked row; returns False when the query was a repeat."""
    key = query_key(judgment.query)
    recent = _trim(dict(row.recent_queries or {}), now_ms=now_ms, window_ms=window_ms)
    repeat = key in recent
    judged = judge != "none"
    relevant = judged and judgment.relevant
    used = relevant and judgment.used and f"{USED_PREFIX}{key}" not in recent
    changes: dict[str, Any] = {}
    if not repeat:
        recent[key] = now_ms
        changes.update(retrieved=F("retrieved") + 1, last_retrieved_at=now)
        if judged:
            changes.update(judged=F("judged") + 1, last_judge=judge)
        if relevant:
            changes.update(relevant=F("relevant") + 1, last_relevant_at=now)
    if used:
        recent[f"{USED_PREFIX}{key}"] = now_ms
        changes.update(used=F("used") + 1, last_used_at=now)
    recent = _trim(recent, now_ms=now_ms, window_ms=window_ms)
    changes.update(recent_queries=recent, updated_at=timezone.now())
    SkillUsage.objects.filter(pk=row.pk).update(**changes)
    row.recent_queries = recent
    return not repeat


def usage_stale_q(
    *, min_retrieved: int | None = None, max_used: int | None = None
) -> Q | None:
    """The stale rule on SkillUsage rows; None when pruning is off (threshold 0).

    Pruning and the curators' "stale" admin filter share it, so what the admin calls
    stale is exactly what the next pruning pass would archive.
    """
    if min_retrieved is None:
        min_retrieved = settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED
    if max_used is None:
        max_used = settings.AUTOSKILL_USAGE_PRUNE_MAX_USED
    if min_retrieved <= 0:
        return None
    return Q(judged__gte=min_retrieved, used__lte=max_used)


def usage_prune(
    *,
    user: Any,
    min_retrieved: int | None = None,
    max_used: int | None = None,
    skill_ids: Iterable[object] | None = None,
) -> list[str]:
    """Archive the user's active skills that judges saw often but found unused.

    ``min_retrieved`` compares with *judged* retrievals; 0 disables pruning. Defaults
    come from ``AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED`` / ``..._MAX_USED``. One query
    finds the candidates (optionally only ``skill_ids``, e.g. the rows just touched).
    """
    stale = usage_stale_q(min_retrieved=min_retrieved, max_used=max_used)
    if stale is None:
        return []
    rows = SkillUsage.objects.filter(
        stale,
        user=user,
        skill__owner=user,
        skill__status=SkillStatus.ACTIVE,
    )
    if skill_ids is not None:
        rows = rows.filter(
            skill_id__in=[pk for pk in map(_parse_uuid, skill_ids) if pk is not None]
        )
    archived: list[str] = []
    for skill_id, retrieved, judged, used in rows.order_by("skill_id").values_list(
        "skill_id", "retrieved", "judged", "used"
    ):
        reason = f"stale: retrieved {retrieved} times, used {used} ({judged} judged)"
        try:
            skill_archive(skill_id=skill_id, reason=reason)
        except NotFound:
            continue  # deleted meanwhile
        archived.append(str(skill_id))
    return archived


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def usage_stats(*, user: Any, skill_id: object = None) -> dict[str, Any]:
    """Counters of the user's own live skills, keyed by skill id."""
    rows = SkillUsage.objects.filter(user=user, skill__owner=user).exclude(
        skill__status=SkillStatus.ARCHIVED
    )
    if skill_id is not None:
        pk = _parse_uuid(skill_id)
        if pk is None:
            return {"skills": {}}
        rows = rows.filter(skill_id=pk)
    skills: dict[str, Any] = {}
    for row in rows.select_related("skill").order_by("skill_id"):
        skills[str(row.skill_id)] = {
            "name": row.skill.name,
            "title": row.skill.title,
            "status": row.skill.status,
            "retrieved": row.retrieved,
            "relevant": row.relevant,
            "used": row.used,
            "judged": row.judged,
            "last_judge": row.last_judge,
            "last_retrieved_at": _iso(row.last_retrieved_at),
            "last_relevant_at": _iso(row.last_relevant_at),
            "last_used_at": _iso(row.last_used_at),
        }
    return {"skills": skills}


def heuristic_judgments(
    query: str, reply: str, skills: Sequence[ContextSkill]
) -> list[UsageJudgment]:
    """Cheap verdicts for when no LLM judge is available.

    Tokens come from ``retrieval.text.tokenize`` (the BM25 tokenizer: stopwords
    dropped, English suffixes folded, Chinese words plus character bigrams).

    * relevant: the query shares at least ``min(2, |query tokens|)`` distinct tokens
      with the skill's name, title, triggers and tags (the fields written in the
      user's register);
    * used: relevant, and the reply contains at least 2 of the skill's distinctive
      terms (tokens of its description, triggers and instructions that the query
      did not already contain, so echoing the question does not count); 1 is enough
      when the skill has fewer than 4 such terms.

    The "used" bar is deliberately low: a false "unused" eventually archives a
    useful skill, a false "used" only delays pruning a stale one.
    """
    query_tokens = set(tokenize(query))
    reply_tokens = set(tokenize(reply))
    verdicts: list[UsageJudgment] = []
    for skill in skills:
        anchors = set(
            tokenize(
                " ".join(
                    [
                        skill.name.replace("-", " "),
                        skill.title,
                        *skill.triggers,
                        *skill.tags,
                    ]
                )
            )
        )
        shared = query_tokens & anchors
        relevant = bool(query_tokens) and len(shared) >= min(2, len(query_tokens))
        distinctive = (
            set(
                tokenize(
                    " ".join([skill.description, *skill.triggers, skill.instructions])
                )
            )
            - query_tokens
        )
        needed = 2 if len(distinctive) >= 4 else 1
        used = relevant and len(reply_tokens & distinctive) >= needed
        verdicts.append(
            UsageJudgment(
                skill_id=str(skill.id), relevant=relevant, used=used, query=query
            )
        )
    return verdicts
