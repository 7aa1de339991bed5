"""The counts the admin dashboard shows, computed in a fixed handful of queries.

One selector so the index page costs the same whether the install holds ten skills or
a hundred thousand: every figure is a grouped count or a bounded top-N, never a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, Sum
from django.utils import timezone

from extraction.models import ExtractionJob, JobOutcome, JobStatus
from retrieval.usage import usage_stale_q
from skills.models import Skill, SkillStatus, SkillUsage

RECENT_JOBS_WINDOW = timedelta(hours=24)
TOP_USED_LIMIT = 10
IN_FLIGHT = (JobStatus.SCHEDULED, JobStatus.RUNNING)
# How a finished job ended: its outcome, except a cancellation, which has none.
FINISHED_LABELS = (*JobOutcome.values, JobStatus.CANCELLED.value)


@dataclass(frozen=True)
class TopSkill:
    """One row of the most-used list: usage summed over every user of the skill."""

    skill_id: str
    title: str
    name: str
    status: str
    owner: str
    library: str
    used: int
    relevant: int
    retrieved: int
    users: int
    last_used_at: datetime | None


@dataclass(frozen=True)
class DashboardCounts:
    """What the dashboard shows; a section a viewer may not see is left empty."""

    since: datetime
    skills_by_status: dict[str, int] = field(default_factory=dict)
    review_queue: int = 0
    stale_skills: int = 0
    top_used: list[TopSkill] = field(default_factory=list)
    jobs_finished: dict[str, int] = field(default_factory=dict)
    jobs_in_flight: dict[str, int] = field(default_factory=dict)


def _skills_by_status() -> dict[str, int]:
    counts = dict.fromkeys(SkillStatus.values, 0)
    rows = Skill.objects.order_by().values_list("status").annotate(n=Count("pk"))
    counts.update({status: n for status, n in rows})
    return counts


def _stale_count() -> int:
    """Active user skills the next pruning pass would archive (retrieval.usage's rule)."""
    stale = usage_stale_q()
    if stale is None:  # pruning is off, so nothing counts as stale
        return 0
    usage = SkillUsage.objects.filter(
        stale, skill=OuterRef("pk"), user=OuterRef("owner")
    )
    return Skill.objects.filter(Exists(usage), status=SkillStatus.ACTIVE).count()


def _top_used(limit: int) -> list[TopSkill]:
    rows = (
        SkillUsage.objects.exclude(skill__status=SkillStatus.ARCHIVED)
        .order_by()
        .values(
            "skill_id",
            "skill__title",
            "skill__name",
            "skill__status",
            "skill__owner__username",
            "skill__library__slug",
        )  # fmt: skip
        .annotate(
            used_total=Sum("used"),
            relevant_total=Sum("relevant"),
            retrieved_total=Sum("retrieved"),
            users=Count("user", distinct=True),
            last_used=Max("last_used_at"),
        )
        .filter(used_total__gt=0)
        .order_by("-used_total", "-retrieved_total", "skill__name")[:limit]
    )
    return [
        TopSkill(
            skill_id=str(row["skill_id"]),
            title=row["skill__title"],
            name=row["skill__name"],
            status=row["skill__status"],
            owner=row["skill__owner__username"] or "",
            library=row["skill__library__slug"] or "",
            used=row["used_total"],
            relevant=row["relevant_total"],
            retrieved=row["retrieved_total"],
            users=row["users"],
            last_used_at=row["last_used"],
        )
        for row in rows
    ]


def _jobs(since: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Jobs that finished since `since`, by how they ended, and jobs queued or running now."""
    finished = dict.fromkeys(FINISHED_LABELS, 0)
    in_flight = dict.fromkeys(IN_FLIGHT, 0)
    rows = (
        ExtractionJob.objects.filter(
            Q(finished_at__gte=since) | Q(status__in=IN_FLIGHT)
        )
        .order_by()
        .values_list("status", "outcome")
        .annotate(n=Count("pk"))
    )
    for status, outcome, n in rows:
        if status in IN_FLIGHT:
            in_flight[status] += n
        else:
            label = outcome or status
            finished[label] = finished.get(label, 0) + n
    return finished, in_flight


def dashboard_counts(
    *,
    now: datetime | None = None,
    include_skills: bool = True,
    include_jobs: bool = True,
    top: int = TOP_USED_LIMIT,
) -> DashboardCounts:
    """Skills by status (drafts are the review queue), stale skills, the most used
    skills, and extraction jobs of the last 24 hours; four queries with everything."""
    now = now or timezone.now()
    since = now - RECENT_JOBS_WINDOW
    values: dict[str, Any] = {"since": since}
    if include_skills:
        by_status = _skills_by_status()
        values.update(
            skills_by_status=by_status,
            review_queue=by_status[SkillStatus.DRAFT],
            stale_skills=_stale_count(),
            top_used=_top_used(top),
        )
    if include_jobs:
        values["jobs_finished"], values["jobs_in_flight"] = _jobs(since)
    return DashboardCounts(**values)
