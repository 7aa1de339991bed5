"""Two identical candidates arriving at once never create two skills; merges never lose updates."""

from __future__ import annotations

import pytest

from extraction.candidate import Candidate
from extraction.maintenance import apply_decision, decide
from skills.models import Skill, SkillVersion
from tests.concurrency import race
from tests.extraction.llm_fixtures import RELEASE_SKILL

WORKERS = 6


@pytest.mark.django_db(transaction=True)
def test_identical_candidates_at_once_make_exactly_one_skill(user):
    candidate = Candidate(**RELEASE_SKILL)

    def ingest(index: int, round_: int) -> None:
        decision = decide(user=user, candidate=candidate, llm=None)
        apply_decision(user=user, candidate=candidate, decision=decision, llm=None)

    errors = race(ingest, threads=WORKERS, rounds=1)

    assert errors == []
    assert Skill.objects.filter(owner=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_merges_into_one_skill_keep_every_trigger(user):
    base = Candidate(**RELEASE_SKILL)
    decision = decide(user=user, candidate=base, llm=None)
    skill = apply_decision(user=user, candidate=base, decision=decision, llm=None).skill

    def merge(index: int, round_: int) -> None:
        candidate = Candidate(**{**RELEASE_SKILL, "triggers": [f"trigger {index}"]})
        apply_decision(
            user=user,
            candidate=candidate,
            decision=decide(user=user, candidate=candidate, llm=None),
            llm=None,
        )

    errors = race(merge, threads=4, rounds=1)

    assert errors == []
    skill.refresh_from_db()
    assert {f"trigger {i}" for i in range(4)} <= set(skill.triggers)
    numbers = list(
        SkillVersion.objects.filter(skill=skill)
        .order_by("number")
        .values_list("number", flat=True)
    )
    assert numbers == list(range(1, len(numbers) + 1))
