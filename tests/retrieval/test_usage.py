"""Usage counters: own skills only, de-duplicated per query window, pruning by archive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from retrieval.context import ContextSkill
from retrieval.usage import (
    UsageJudgment,
    heuristic_judgments,
    query_key,
    usage_prune,
    usage_record,
    usage_stats,
)
from skills.models import Skill, SkillStatus, SkillUsage, SkillVersion
from tests.concurrency import race
from tests.factories import make_skill

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0)


def judgment(skill, *, query="write release notes", relevant=True, used=False):
    return UsageJudgment(
        skill_id=str(skill.pk), relevant=relevant, used=used, query=query
    )


def usage(user, skill) -> SkillUsage:
    return SkillUsage.objects.get(user=user, skill=skill)


def test_query_key_ignores_case_and_whitespace():
    assert query_key("  Write   release\nNOTES ") == query_key("write release notes")
    assert query_key("a" * 200 + "b") == query_key("a" * 200 + "c")
    assert query_key("x") != query_key("y")


def test_counters_follow_the_verdicts(user):
    """Relevant and used increment with their verdicts; used implies relevant."""
    skill = make_skill(owner=user)
    usage_record(user=user, judgments=[judgment(skill, used=True)], judge="llm", now=T0)
    usage_record(
        user=user,
        judgments=[judgment(skill, query="other", relevant=False, used=True)],
        judge="heuristic",
        now=T0,
    )
    row = usage(user, skill)
    assert (row.retrieved, row.relevant, row.used, row.judged) == (2, 1, 1, 2)
    assert row.last_judge == "heuristic"
    assert row.last_retrieved_at == T0
    assert row.last_used_at == T0


def test_repeat_within_the_window_is_not_counted_again(user):
    skill = make_skill(owner=user)
    for minutes in (0, 3, 9):
        result = usage_record(
            user=user,
            judgments=[judgment(skill, query=" Write release NOTES")],
            judge="llm",
            now=T0 + timedelta(minutes=minutes),
        )
    assert result.duplicates == (str(skill.pk),)
    assert (usage(user, skill).retrieved, usage(user, skill).judged) == (1, 1)
    result = usage_record(
        user=user,
        judgments=[judgment(skill)],
        judge="llm",
        now=T0 + timedelta(minutes=10, seconds=1),
    )
    assert result.counted == (str(skill.pk),)
    assert usage(user, skill).retrieved == 2


def test_window_comes_from_settings(user, settings):
    settings.AUTOSKILL_USAGE_DEDUP_WINDOW = 60
    skill = make_skill(owner=user)
    for minutes in (0, 2):
        usage_record(
            user=user,
            judgments=[judgment(skill)],
            judge="llm",
            now=T0 + timedelta(minutes=minutes),
        )
    assert usage(user, skill).retrieved == 2


def test_used_counts_once_per_window(user):
    """A repeat may add the first 'used' of its window, but never a second one."""
    skill = make_skill(owner=user)
    usage_record(user=user, judgments=[judgment(skill)], judge="llm", now=T0)
    for minutes in (1, 2):
        usage_record(
            user=user,
            judgments=[judgment(skill, used=True)],
            judge="llm",
            now=T0 + timedelta(minutes=minutes),
        )
    row = usage(user, skill)
    assert (row.retrieved, row.relevant, row.used) == (1, 1, 1)


def test_recent_queries_stay_bounded(user):
    skill = make_skill(owner=user)
    for n in range(100):
        usage_record(
            user=user,
            judgments=[judgment(skill, query=f"query {n}")],
            judge="llm",
            now=T0 + timedelta(seconds=n),
        )
    assert len(usage(user, skill).recent_queries) == 64
    usage_record(
        user=user, judgments=[judgment(skill)], judge="llm", now=T0 + timedelta(hours=1)
    )
    assert list(usage(user, skill).recent_queries) == [query_key("write release notes")]


def test_library_and_other_users_skills_are_ignored(user, other_user, library):
    mine = make_skill(owner=user)
    shared = make_skill(library=library)
    theirs = make_skill(owner=other_user)
    result = usage_record(
        user=user,
        judgments=[
            judgment(mine),
            judgment(shared),
            judgment(theirs),
            UsageJudgment(skill_id="not-a-uuid", relevant=True, used=True, query="q"),
        ],
        judge="llm",
        now=T0,
    )
    assert result.counted == (str(mine.pk),)
    assert set(result.ignored) == {str(shared.pk), str(theirs.pk), "not-a-uuid"}
    assert list(SkillUsage.objects.values_list("skill_id", flat=True)) == [mine.pk]


def test_no_judge_counts_retrievals_only(user):
    skill = make_skill(owner=user)
    usage_record(
        user=user, judgments=[judgment(skill, used=True)], judge="none", now=T0
    )
    row = usage(user, skill)
    assert (row.retrieved, row.relevant, row.used, row.judged) == (1, 0, 0, 0)
    assert row.last_judge == ""


def test_unknown_judge_is_rejected(user):
    from autoskill_site.exceptions import InvalidInput

    with pytest.raises(InvalidInput):
        usage_record(user=user, judgments=[], judge="oracle")


def record_unused(user, skill, times: int, *, judge: str = "llm") -> None:
    for n in range(times):
        usage_record(
            user=user,
            judgments=[judgment(skill, query=f"q{n}", relevant=False)],
            judge=judge,
            now=T0 + timedelta(minutes=11 * n),
        )


def test_prune_archives_stale_skills_with_a_reason(user):
    stale = make_skill(owner=user)
    useful = make_skill(owner=user)
    record_unused(user, stale, 3)
    record_unused(user, useful, 3)
    usage_record(
        user=user, judgments=[judgment(useful, used=True)], judge="llm", now=T0
    )
    archived = usage_prune(user=user, min_retrieved=3, max_used=0)
    assert archived == [str(stale.pk)]
    stale.refresh_from_db()
    assert stale.status == SkillStatus.ARCHIVED
    latest = SkillVersion.objects.filter(skill=stale).order_by("-number").first()
    assert latest.reason.startswith("stale: retrieved 3 times, used 0")
    assert Skill.objects.get(pk=useful.pk).status == SkillStatus.ACTIVE
    assert usage_prune(user=user, min_retrieved=3, max_used=0) == []


def test_zero_threshold_disables_pruning(user, settings):
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 0
    skill = make_skill(owner=user)
    record_unused(user, skill, 5)
    assert usage_prune(user=user) == []
    assert usage_prune(user=user, min_retrieved=0) == []
    assert Skill.objects.get(pk=skill.pk).status == SkillStatus.ACTIVE


def test_only_judged_retrievals_count_toward_pruning(user, settings):
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 3
    skill = make_skill(owner=user)
    record_unused(user, skill, 10, judge="none")
    assert usage(user, skill).retrieved == 10
    assert usage_prune(user=user) == []
    assert Skill.objects.get(pk=skill.pk).status == SkillStatus.ACTIVE


def test_prune_scans_with_one_query_and_can_be_limited(user):
    skills = [make_skill(owner=user) for _ in range(4)]
    for skill in skills:
        record_unused(user, skill, 2)
    with CaptureQueriesContext(connection) as queries:
        assert usage_prune(user=user, min_retrieved=99) == []
    assert len(queries) == 1
    touched = usage_prune(user=user, min_retrieved=2, skill_ids=[skills[0].pk])
    assert touched == [str(skills[0].pk)]


def test_stats_cover_own_live_skills(user):
    skill = make_skill(owner=user)
    gone = make_skill(owner=user)
    usage_record(
        user=user, judgments=[judgment(skill), judgment(gone)], judge="llm", now=T0
    )
    usage_prune(user=user, min_retrieved=1, skill_ids=[gone.pk])
    stats = usage_stats(user=user)["skills"]
    assert list(stats) == [str(skill.pk)]
    assert stats[str(skill.pk)]["retrieved"] == 1
    assert stats[str(skill.pk)]["last_retrieved_at"] == T0.isoformat()
    assert usage_stats(user=user, skill_id=skill.pk)["skills"].keys() == {str(skill.pk)}
    assert usage_stats(user=user, skill_id="junk") == {"skills": {}}


def test_heuristic_marks_relevant_by_overlap_and_used_by_reply_terms():
    pdf = ContextSkill(
        id="pdf",
        name="pdf-table-extraction",
        title="Extract tables from PDF files",
        triggers=("extract tables from pdf",),
        description="Pull tables out of PDFs with camelot and clean them with pandas.",
        instructions="Use camelot lattice mode, then pandas to drop empty rows.",
    )
    poem = ContextSkill(
        id="poem", name="haiku", title="Write haiku", triggers=("haiku",)
    )
    query = "How do I extract tables from a PDF?"
    reply = "Run camelot in lattice mode and load the result into pandas."
    verdicts = {v.skill_id: v for v in heuristic_judgments(query, reply, [pdf, poem])}
    assert verdicts["pdf"].relevant and verdicts["pdf"].used
    assert not verdicts["poem"].relevant and not verdicts["poem"].used
    echo = heuristic_judgments(query, "Extract the tables from the PDF.", [pdf])[0]
    assert echo.relevant and not echo.used


@pytest.mark.django_db(transaction=True)
def test_concurrent_recorders_lose_no_counts(user):
    """Eight threads record distinct queries on the same skills at once; every one counts."""
    skills = [make_skill(owner=user) for _ in range(2)]
    threads_count, rounds = 8, 3

    def record(index: int, round_: int) -> None:
        usage_record(
            user=user,
            judgments=[
                judgment(s, query=f"t{index} r{round_}", used=True) for s in skills
            ],
            judge="llm",
        )

    errors = race(record, threads=threads_count, rounds=rounds)
    assert errors == []
    for skill in skills:
        row = usage(user, skill)
        expected = threads_count * rounds
        assert (row.retrieved, row.relevant, row.used, row.judged) == (expected,) * 4
