"""AUTOSKILL_EXTRACTION_SKILL_STATUS decides whether learned skills wait for review."""

from __future__ import annotations

import pytest

from extraction.services import extraction_ingest
from retrieval.search import skill_search
from skills.models import Skill, SkillDraft, SkillStatus
from tests.site.test_settings import _import_settings

pytestmark = pytest.mark.django_db

RELEASE = [
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },
    {"role": "assistant", "content": "Got it."},
]


def test_by_default_an_extracted_skill_is_active_at_once(user):
    # when
    result = extraction_ingest(
        user=user, messages=RELEASE, trigger="import_conversation"
    )
    # then
    assert result.outcome == "added"
    skill = Skill.objects.get(owner=user)
    assert skill.status == SkillStatus.ACTIVE
    assert skill.versions.get().status == SkillStatus.ACTIVE


def test_with_the_draft_setting_an_extracted_skill_waits_in_the_review_queue(
    user, settings
):
    # given
    settings.AUTOSKILL_EXTRACTION_SKILL_STATUS = "draft"
    # when
    result = extraction_ingest(
        user=user, messages=RELEASE, trigger="import_conversation"
    )
    # then the skill exists as a draft, in the queue, and retrieval does not use it
    assert result.outcome == "added"
    skill = Skill.objects.get(owner=user)
    assert skill.status == SkillStatus.DRAFT
    version = skill.versions.get()
    assert (version.status, version.origin) == (SkillStatus.DRAFT, "extraction")
    assert list(SkillDraft.objects.values_list("pk", flat=True)) == [skill.pk]
    hits = skill_search(
        user=user, query="release rollout", scope="user", top_k=3, min_score=0.0
    ).hits
    assert hits == []


def test_a_draft_is_still_found_as_a_duplicate_by_the_next_extraction(user, settings):
    """A waiting draft is not learned twice: the same window merges or is a duplicate."""
    # given
    settings.AUTOSKILL_EXTRACTION_SKILL_STATUS = "draft"
    extraction_ingest(user=user, messages=RELEASE, trigger="import_conversation")
    # when
    extraction_ingest(
        user=user,
        messages=[{"role": "user", "content": RELEASE[0]["content"] + " Then tag it."}],
        trigger="import_conversation",
    )
    # then
    assert Skill.objects.filter(owner=user).count() == 1
    assert Skill.objects.get(owner=user).status == SkillStatus.DRAFT


def test_an_unknown_status_in_the_environment_fails_at_start():
    result = _import_settings(DJANGO_DEBUG="1", AUTOSKILL_EXTRACTION_SKILL_STATUS="on")
    assert result.returncode != 0
    assert "AUTOSKILL_EXTRACTION_SKILL_STATUS" in result.stderr
