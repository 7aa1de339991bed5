"""Malformed answers from the extraction model, end to end through a job.

The model is a real OpenAI-compatible client against the loopback fake. An unusable
extraction answer gets exactly one repair, then the job fails (not retried: asking
again would not help) with an error that says so; an unusable maintenance answer
falls back to the rules; a reply that is not a chat completion at all fails the job
with the endpoint named. Nothing crashes and nothing half-made is stored.
"""

from __future__ import annotations

import pytest

from extraction.jobs import job_claim
from extraction.maintenance import decide
from extraction.models import ExtractionJob, JobEvent
from extraction.pipeline import job_run
from extraction.services import extraction_submit
from skills.models import Skill, SkillVersion
from tests.extraction.llm_fixtures import RELEASE_SKILL, reply_json
from tests.extraction.test_maintenance import existing_release_skill, release_candidate
from tests.fakes.openai_server import CHAT, Reply, Scripted

pytestmark = pytest.mark.django_db
RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."


def _run(user, llm) -> ExtractionJob:
    job, _ = extraction_submit(
        user=user,
        messages=[{"role": "user", "content": RELEASE}],
        trigger="extract_now",
    )
    return job_run(job=job_claim(job_id=job.pk), llm=llm)


def _event_messages(job: ExtractionJob) -> list[str]:
    return list(
        JobEvent.objects.filter(job=job)
        .order_by("seq")
        .values_list("message", flat=True)
    )


def test_prose_after_one_repair_fails_the_job_once_with_a_clear_error(
    user, fake_openai, llm
):
    # given: the model never answers JSON
    reply_json(fake_openai, "A release skill, I think.", "Still no JSON, sorry.")
    # when
    job = _run(user, llm)
    # then
    assert (job.status, job.outcome, job.attempts) == ("failed", "error", 1)
    assert job.error.startswith("Unusable extraction answer after one repair")
    assert len(fake_openai.requests_to(CHAT)) == 2  # the answer and one repair
    assert _event_messages(job)[-1].startswith("failed")
    assert not Skill.objects.filter(owner=user).exists()


def test_truncated_json_is_repaired_and_the_job_completes(user, fake_openai, llm):
    # given: the first answer stops mid-object, the repair is whole
    reply_json(
        fake_openai,
        '{"skills": [{"name": "release-rollout',
        {"skills": [RELEASE_SKILL]},
    )
    # when
    job = _run(user, llm)
    # then
    assert (job.status, job.outcome) == ("completed", "added")
    assert job.decision["extraction"]["repaired"] is True
    assert job.decision["extraction"]["calls"] == 2
    assert Skill.objects.get(owner=user).name == RELEASE_SKILL["name"]


@pytest.mark.parametrize(
    "answer",
    [
        Reply(events=["not a chat completion"]),
        Reply(body="a JSON string, not an object"),
        Reply(body={"id": "chatcmpl-x", "object": "chat.completion"}),
    ],
    ids=["event-stream", "json-string", "no-choices"],
)
def test_a_reply_that_is_not_a_chat_completion_fails_the_job(
    user, fake_openai, llm, answer
):
    # given
    fake_openai.route(CHAT, lambda request, scripted: answer)
    # when
    job = _run(user, llm)
    # then
    assert (job.status, job.outcome) == ("failed", "error")
    assert "sent a reply without choices" in job.error
    assert fake_openai.base_url in job.error
    assert not Skill.objects.filter(owner=user).exists()


def test_a_prose_decision_falls_back_to_the_rules(user, fake_openai, llm):
    # given: a neighbour, so the model is asked, and it answers prose
    existing_release_skill(user)
    candidate = release_candidate(
        name="canary-first-release",
        description="Ships releases with a canary and a monitoring window first.",
    )
    reply_json(fake_openai, "Merge them, probably.")
    # when
    decision = decide(user=user, candidate=candidate, llm=llm)
    # then
    assert len(fake_openai.requests_to(CHAT)) == 1
    assert decision.decided_by == "rules"
    assert decision.action in ("add", "merge")


def test_a_prose_merge_answer_falls_back_to_the_rule_merge(user, fake_openai, llm):
    # given: the same skill exists (an identity merge), the merge answer is prose
    skill = existing_release_skill(user)
    reply_json(fake_openai, {"skills": [RELEASE_SKILL]}, "Combine both lists.")
    # when
    job = _run(user, llm)
    # then
    assert (job.status, job.outcome) == ("completed", "merged")
    assert len(fake_openai.requests_to(CHAT)) == 2
    skill.refresh_from_db()
    assert skill.version_number == 2
    assert SkillVersion.objects.filter(skill=skill).count() == 2
    assert set(RELEASE_SKILL["triggers"]) <= set(skill.triggers)
    assert "release process" in skill.triggers  # the old trigger is never dropped
    assert Skill.objects.filter(owner=user).count() == 1


def test_scripted_failure_statuses_are_retried_not_parsed(user, fake_openai, llm):
    """A 5xx from the extraction model is transient: the job is rescheduled, not failed."""
    # given
    fake_openai.enqueue(
        CHAT, *[Scripted(status=502, body={"error": "bad gateway"})] * 3
    )
    # when
    job = _run(user, llm)
    # then
    assert (job.status, job.attempts) == ("scheduled", 1)
    assert "502" in job.error
    assert not Skill.objects.filter(owner=user).exists()
