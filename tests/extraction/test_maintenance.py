"""Maintenance: identity fast path, rules, the model's decision inside guard rails, merges."""

from __future__ import annotations

import pytest

from extraction.candidate import Candidate
from extraction.maintenance import apply_decision, decide
from skills.models import Skill, SkillVersion
from skills.services import skill_create
from tests.extraction.llm_fixtures import RELEASE_SKILL, reply_json
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def release_candidate(**changes) -> Candidate:
    return Candidate(**{**RELEASE_SKILL, **changes})


def existing_release_skill(user):
    return make_skill(
        owner=user,
        name="release-rollout-process",
        title="Release rollout process",
        description="Runs a release through regression, canary, monitoring and full rollout.",
        instructions="# Goal\nShip safely.\n\n# Workflow\n1. Regression\n2. Canary",
        triggers=["release process"],
        tags=["release"],
    )


def test_same_description_merges_without_asking_the_model(user, fake_openai, llm):
    skill = existing_release_skill(user)

    decision = decide(user=user, candidate=release_candidate(), llm=llm)

    assert (decision.action, decision.target_skill_id, decision.decided_by) == (
        "merge",
        str(skill.pk),
        "identity",
    )
    assert fake_openai.requests_to("/v1/chat/completions") == []


def test_same_description_as_a_library_skill_is_discarded(user, library):
    skill_create(
        library=library,
        title="Release",
        description=RELEASE_SKILL["description"],
        instructions="# Goal\nx",
    )

    decision = decide(user=user, candidate=release_candidate(), llm=None)

    assert decision.action == "discard"


def test_an_unrelated_candidate_is_added_by_the_rules(user):
    existing_release_skill(user)
    candidate = release_candidate(
        name="sql-style", description="Formats SQL with uppercase keywords.",
        triggers=["format sql"], tags=["sql"], instructions="# Goal\nUppercase SQL keywords.",
    )  # fmt: skip

    decision = decide(user=user, candidate=candidate, llm=None)

    assert decision.action == "add"
    applied = apply_decision(
        user=user, candidate=candidate, decision=decision, llm=None, job_id=None
    )
    assert applied.outcome == "added"
    version = applied.skill.versions.get()
    assert version.origin == "extraction"


def test_another_users_skills_are_never_neighbours_or_targets(user, other_user):
    existing_release_skill(other_user)

    decision = decide(user=user, candidate=release_candidate(), llm=None)

    assert decision.action == "add"
    assert decision.neighbours == []


def test_the_model_decides_when_neighbours_exist(user, fake_openai, llm):
    skill = existing_release_skill(user)
    candidate = release_candidate(
        name="canary-first-release",
        description="Ships releases with a canary and a monitoring window first.",
    )
    reply_json(
        fake_openai,
        {"action": "update", "target_skill_id": str(skill.pk), "reason": "refines it"},
    )

    decision = decide(user=user, candidate=candidate, llm=llm)

    assert (decision.action, decision.decided_by, decision.target_skill_id) == (
        "merge",
        "llm",
        str(skill.pk),
    )


def test_a_merge_into_a_library_skill_becomes_a_discard(
    user, library, fake_openai, llm
):
    shared = skill_create(library=library, title="Release rollout", description="Release rollout with canary.",
                          instructions="# Goal\nRollout", triggers=["release process"])  # fmt: skip
    reply_json(
        fake_openai,
        {"action": "merge", "target_skill_id": str(shared.pk), "reason": "same"},
    )

    decision = decide(
        user=user,
        candidate=release_candidate(description="Canary-first release rollout."),
        llm=llm,
    )

    assert (decision.action, decision.decided_by) == ("discard", "guardrail")


def test_a_merge_naming_an_unknown_target_falls_back_to_the_rules(
    user, fake_openai, llm
):
    existing_release_skill(user)
    reply_json(
        fake_openai,
        {"action": "merge", "target_skill_id": "not-a-listed-id", "reason": "?"},
    )

    decision = decide(
        user=user,
        candidate=release_candidate(
            name="canary-release-steps",
            description="Canary-first release rollout steps.",
        ),
        llm=llm,
    )

    assert decision.decided_by == "guardrail"
    assert decision.action in ("merge", "add")


def test_merge_unions_lists_bumps_the_patch_and_records_the_job(user):
    import uuid

    skill = existing_release_skill(user)
    job_id = uuid.uuid4()
    decision = decide(user=user, candidate=release_candidate(), llm=None)

    applied = apply_decision(
        user=user,
        candidate=release_candidate(),
        decision=decision,
        llm=None,
        job_id=job_id,
    )

    skill.refresh_from_db()
    assert applied.outcome == "merged" and applied.changed
    assert skill.version == "0.1.1"
    assert skill.triggers[0] == "release process" and "ship a release" in skill.triggers
    assert "4. Full rollout" in skill.instructions  # the better instructions won
    latest = SkillVersion.objects.filter(skill=skill).order_by("-number").first()
    assert (latest.origin, latest.job_id) == ("merge", job_id)


def test_an_llm_merge_can_reword_but_never_drops_triggers(user, fake_openai, llm):
    skill = existing_release_skill(user)
    decision = decide(user=user, candidate=release_candidate(), llm=None)
    reply_json(fake_openai, {"name": "x", "description": "Release rollout with canary and monitoring.",
                             "instructions": "# Goal\nShip.\n\n# Workflow\n1. Regression\n2. Canary\n3. Monitor\n4. Rollout",
                             "triggers": ["ship it"], "tags": []})  # fmt: skip

    apply_decision(user=user, candidate=release_candidate(), decision=decision, llm=llm)

    skill.refresh_from_db()
    assert skill.description == "Release rollout with canary and monitoring."
    assert {"release process", "ship it"} <= set(skill.triggers)
    assert skill.name == "release-rollout-process"


def test_discard_stores_nothing(user):
    before = Skill.objects.count()
    decision = decide(user=user, candidate=release_candidate(), llm=None)
    decision.action = "discard"
    assert (
        apply_decision(
            user=user, candidate=release_candidate(), decision=decision, llm=None
        ).outcome
        == "discarded"
    )
    assert Skill.objects.count() == before
