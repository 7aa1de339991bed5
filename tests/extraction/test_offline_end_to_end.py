"""The embedded default end to end: the offline provider learns the release process, search finds it."""

from __future__ import annotations

import pytest

from extraction.services import extraction_ingest
from retrieval.search import skill_search
from skills.models import Skill

pytestmark = pytest.mark.django_db

RELEASE = [
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },
    {"role": "assistant", "content": "Got it."},
]


def test_ingest_the_release_example_then_find_it_by_search(user):
    result = extraction_ingest(
        user=user, messages=RELEASE, trigger="import_conversation"
    )

    assert (result.status, result.outcome) == ("completed", "added")
    skill = Skill.objects.get(owner=user)
    assert "canary" in skill.instructions.lower()
    hits = skill_search(
        user=user,
        query="how do we do a release rollout?",
        scope="user",
        top_k=3,
        min_score=0.0,
    ).hits
    assert hits and hits[0].skill.id == str(skill.pk)


def test_the_same_window_again_is_a_duplicate_and_changes_nothing(user):
    extraction_ingest(user=user, messages=RELEASE, trigger="import_conversation")
    again = extraction_ingest(
        user=user, messages=RELEASE, trigger="import_conversation"
    )
    assert again.outcome == "duplicate"
    assert Skill.objects.get(owner=user).version == "0.1.0"


def test_small_talk_yields_no_candidate(user):
    result = extraction_ingest(user=user, messages=[{"role": "user", "content": "thanks, have a nice day!"}],
                               trigger="import_conversation")  # fmt: skip
    assert result.outcome == "no_candidate"
    assert not Skill.objects.exists()


def test_a_restated_procedure_merges_into_the_existing_skill(user):
    extraction_ingest(user=user, messages=RELEASE, trigger="import_conversation")
    result = extraction_ingest(
        user=user,
        messages=[
            {
                "role": "user",
                "content": "Before each release: run regression -> canary -> monitor -> full rollout -> announce in the changelog.",
            }
        ],
        trigger="import_conversation",
    )
    assert result.outcome in ("merged", "discarded"), result.decision
    assert Skill.objects.filter(owner=user).count() == 1
