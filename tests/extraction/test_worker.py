"""The real queue: a job submitted on the DB task backend is run by `extraction_worker`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from extraction.jobs import job_claim
from extraction.models import ExtractionJob
from extraction.services import extraction_submit
from skills.models import Skill

RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."


@pytest.mark.django_db(transaction=True)
def test_db_worker_runs_a_submitted_job_with_the_offline_provider(user):
    job, _ = extraction_submit(
        user=user,
        messages=[{"role": "user", "content": RELEASE}],
        trigger="extract_now",
    )

    call_command("extraction_worker", batch=True, verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.outcome) == ("completed", "added")
    assert Skill.objects.filter(owner=user, name=job.upserted[0]["name"]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_resumes_a_job_whose_previous_worker_died(user):
    """A claimed job whose lease expired (worker killed) is reaped at start and completed."""
    job, _ = extraction_submit(
        user=user,
        messages=[{"role": "user", "content": RELEASE}],
        trigger="extract_now",
    )
    call_command(
        "extraction_worker", batch=True, verbosity=0
    )  # drain the original task
    ExtractionJob.objects.filter(pk=job.pk).update(
        status="scheduled", outcome="", upserted=[], attempts=0
    )
    Skill.objects.all().delete()
    assert job_claim(worker="killed-worker", job_id=job.pk) is not None
    ExtractionJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=5)
    )

    call_command("extraction_worker", batch=True, verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.outcome, job.attempts) == ("completed", "added", 2)
