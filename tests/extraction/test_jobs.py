"""Durable jobs: submit, fair capped claims, retries, crash-resume via the lease, events, simulate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from extraction.events import job_events_after
from extraction.jobs import job_claim, jobs_reap
from extraction.models import ExtractionJob, JobEvent
from extraction.pipeline import job_run
from extraction.services import extraction_simulate, extraction_submit
from skills.models import Skill
from tests.extraction.llm_fixtures import RELEASE_SKILL, reply_json

pytestmark = pytest.mark.django_db

RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."


def submit(user, text=RELEASE, **kw):
    return extraction_submit(
        user=user,
        messages=[{"role": "user", "content": text}],
        trigger="extract_now",
        **kw,
    )


def test_submit_records_a_scheduled_job_and_event_and_dedupes_the_same_window(user):
    job, created = submit(user)
    again, created_again = submit(user)

    assert created and not created_again and again.pk == job.pk
    assert job.status == "scheduled"
    assert [e["status"] for e in job_events_after(user=user)] == ["scheduled"]


def test_empty_windows_are_refused_with_a_clear_error(user):
    from autoskill_site.exceptions import InvalidInput

    with pytest.raises(InvalidInput, match="no user message"):
        extraction_submit(
            user=user,
            messages=[{"role": "assistant", "content": "hi"}],
            trigger="extract_now",
        )


def test_claims_are_fair_between_users_and_capped(user, other_user, settings):
    settings.AUTOSKILL_MAX_BG_EXTRACT_JOBS = 2
    first, _ = submit(user, "rule one: always use pnpm")
    submit(user, "rule two: never use tabs")
    late, _ = submit(other_user, "rule three: answer in French")

    assert job_claim(worker="w1").pk == first.pk
    assert job_claim(worker="w2").pk == late.pk  # the other user's job jumps the queue
    assert job_claim(worker="w3") is None  # cap of 2 reached


def test_a_transient_failure_is_retried_then_fails_with_an_explicit_error(
    user, fake_openai, llm, settings
):
    settings.AUTOSKILL_JOB_MAX_ATTEMPTS = 2
    job, _ = submit(user)
    fake_openai.fail("/v1/chat/completions", 503, times=6)

    job = job_run(job=job_claim(job_id=job.pk), llm=llm)
    assert (job.status, job.attempts) == ("scheduled", 1)
    assert job.run_after > timezone.now()

    ExtractionJob.objects.filter(pk=job.pk).update(run_after=timezone.now())
    job = job_run(job=job_claim(job_id=job.pk), llm=llm)
    assert (job.status, job.outcome) == ("failed", "error")
    assert "503" in job.error
    messages = [e.message for e in JobEvent.objects.filter(job=job).order_by("seq")]
    assert messages[0] == "scheduled" and messages[2].startswith("retry scheduled")
    assert messages[-1].startswith("failed")


def test_a_job_whose_worker_died_is_resumed_by_the_reaper_and_completes(
    user, fake_openai, llm
):
    job, _ = submit(user)
    claimed = job_claim(worker="crashed-worker", job_id=job.pk)
    assert claimed.status == "running"
    ExtractionJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert jobs_reap() == [str(job.pk)]
    reply_json(fake_openai, {"skills": [RELEASE_SKILL]})
    job = job_run(job=job_claim(job_id=job.pk), llm=llm)

    assert (job.status, job.outcome, job.attempts) == ("completed", "added", 2)
    assert "resumed" in " ".join(
        JobEvent.objects.filter(job=job).values_list("message", flat=True)
    )


def test_a_stale_worker_cannot_finish_a_job_it_lost(user, fake_openai, llm):
    from extraction.jobs import job_complete

    job, _ = submit(user)
    claimed = job_claim(worker="slow", job_id=job.pk)
    ExtractionJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    jobs_reap()

    assert not job_complete(
        job=claimed, outcome="added", decision={}, upserted=[], worker="slow"
    )


def test_completed_job_records_decision_and_upserted_skill(user, fake_openai, llm):
    job, _ = submit(user)
    reply_json(fake_openai, {"skills": [RELEASE_SKILL]})

    job = job_run(job=job_claim(job_id=job.pk), llm=llm)

    skill = Skill.objects.get(owner=user)
    assert job.upserted == [
        {"id": str(skill.pk), "name": skill.name, "version": "0.1.0"}
    ]
    assert (
        job.decision["action"] == "add"
        and job.decision["candidate"]["name"] == RELEASE_SKILL["name"]
    )
    assert skill.provenance["job_id"] == str(job.pk)
    final = job_events_after(user=user)[-1]
    assert (final["status"], final["outcome"], final["upserted"][0]["id"]) == (
        "completed",
        "added",
        str(skill.pk),
    )


def test_no_candidate_is_a_completed_job_with_that_outcome(user, fake_openai, llm):
    job, _ = submit(user, "what's the capital of France?")
    reply_json(fake_openai, {"skills": []})
    job = job_run(job=job_claim(job_id=job.pk), llm=llm)
    assert (job.status, job.outcome) == ("completed", "no_candidate")


def test_simulate_returns_the_decision_and_stores_nothing(user, fake_openai, llm):
    reply_json(fake_openai, {"skills": [RELEASE_SKILL]})

    report = extraction_simulate(
        user=user, messages=[{"role": "user", "content": RELEASE}], llm=llm
    )

    assert (
        report["outcome"] == "added"
        and report["candidate"]["name"] == RELEASE_SKILL["name"]
    )
    assert not Skill.objects.exists() and not ExtractionJob.objects.exists()


def test_events_are_only_the_owners(user, other_user):
    submit(user)
    assert job_events_after(user=other_user) == []


def test_the_task_runs_the_job_through_django_tasks(
    user, settings, django_capture_on_commit_callbacks
):
    """With the immediate backend the queued task claims and runs the job (offline provider)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "QUEUES": ["default", "extraction", "audit"]}}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = submit(user)

    job.refresh_from_db()
    assert (job.status, job.outcome) == ("completed", "added")
    assert Skill.objects.filter(owner=user).count() == 1


def test_secrets_never_reach_job_rows_events_payloads_or_logs(
    user, fake_openai, llm, caplog
):
    """Every secret format is redacted before the job row, its events, the model and the logs."""
    import logging

    from extraction.redaction import RedactingFilter
    from tests.extraction.secret_samples import SECRET_SAMPLES, assert_no_secrets

    leaky = [
        {"role": "user", "content": f"Always deploy with {value} please."}
        for value in SECRET_SAMPLES.values()
    ]
    job, _ = extraction_submit(
        user=user, messages=leaky, trigger="extract_now", max_messages=0,
        hint=f"use {SECRET_SAMPLES['openai']}", events=[{"tool": "shell", "output": SECRET_SAMPLES["jwt"]}],
    )  # fmt: skip
    fake_openai.fail(
        "/v1/chat/completions", 400, message=f"bad key {SECRET_SAMPLES['openai']}"
    )
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        job = job_run(job=job_claim(job_id=job.pk), llm=llm)
        logging.getLogger("extraction").warning("job failed: %s", job.error)

    assert job.status == "failed"
    row = ExtractionJob.objects.values().get(pk=job.pk)
    assert_no_secrets(
        {
            k: v
            for k, v in row.items()
            if k
            not in (
                "created_at",
                "updated_at",
                "started_at",
                "finished_at",
                "run_after",
                "lease_expires_at",
                "heartbeat_at",
                "id",
            )
        }
    )
    assert_no_secrets(list(JobEvent.objects.values("message", "data")))
    assert_no_secrets([r.json for r in fake_openai.requests])
    assert_no_secrets(caplog.text)


@pytest.mark.django_db(transaction=True)
def test_events_are_pushed_to_the_owners_channel_group(user, other_user):
    """In-memory layer here; the PostgreSQL + Redis CI run exercises channels-redis."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from extraction.events import user_group

    layer = get_channel_layer()
    mine = async_to_sync(layer.new_channel)()
    theirs = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), mine)
    async_to_sync(layer.group_add)(user_group(other_user.pk), theirs)

    job, _ = submit(user)

    message = async_to_sync(layer.receive)(mine)
    assert message["type"] == "job.event"
    assert (message["event"]["job_id"], message["event"]["status"]) == (
        str(job.pk),
        "scheduled",
    )

    async def nothing_for_the_other_user() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(theirs), 0.3)

    async_to_sync(nothing_for_the_other_user)()
    async_to_sync(layer.group_discard)(user_group(other_user.pk), theirs)
    async_to_sync(layer.group_discard)(user_group(user.pk), mine)


def test_the_top_retrieved_skill_is_stored_as_identity_context(user, other_user):
    from tests.factories import make_skill

    mine = make_skill(owner=user, title="Release checklist", description="Release steps with canary.",
                      triggers=["release regression canary"])  # fmt: skip
    make_skill(
        owner=other_user,
        title="Release checklist",
        description="Someone else's release steps.",
    )

    job, _ = submit(user)

    assert job.reference["id"] == str(mine.pk) and job.reference["scope"] == "user"


def test_prune_deletes_only_old_finished_jobs(user, fake_openai, llm):
    from io import StringIO

    from django.core.management import call_command

    old, _ = submit(user, "rule: always use pnpm")
    fresh, _ = submit(user, "rule: never use tabs")
    waiting, _ = submit(user, "rule: answer in French")
    for job in (old, fresh):
        reply_json(fake_openai, {"skills": []})
        job_run(job=job_claim(job_id=job.pk), llm=llm)
    ExtractionJob.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(days=31)
    )
    ExtractionJob.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(days=90)
    )

    out = StringIO()
    call_command("prune_extraction_jobs", "--days", "30", stdout=out)

    assert "Deleted 1 job" in out.getvalue()
    assert set(ExtractionJob.objects.values_list("pk", flat=True)) == {
        fresh.pk,
        waiting.pk,
    }
    assert not JobEvent.objects.filter(job_id=old.pk).exists()
