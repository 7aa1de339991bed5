"""Curator actions on extraction jobs: re-run one over the same evidence, or cancel one.

A re-run is a *new* job, never a reset of the old row: the old job keeps its decision,
upserted skills, error and event timeline exactly as they were, so a curator comparing
"what the model decided then" with "what it decides now" has both. The new row points
at the old one (`rerun_of`), and the old one is marked `superseded_at`, which takes it
out of the set of live jobs for its window: a client re-sending that window finds the
re-run. The mark is a timestamp, not a link, so pruning either row never changes
which job owns the window.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from autoskill_site.exceptions import Conflict, NotFound
from extraction.events import job_event_add
from extraction.jobs import enqueue_job, job_create, live_job_for_window
from extraction.models import ExtractionJob, JobStatus
from extraction.pipeline import window_of

RERUNNABLE_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def _author_name(author: Any) -> str:
    return author.get_username() if author is not None else "system"


def _locked_job(job_id: Any) -> ExtractionJob:
    try:
        job = ExtractionJob.objects.select_for_update().filter(pk=job_id).first()
    except (ValueError, TypeError, ValidationError):
        job = None
    if job is None:
        raise NotFound(f"No extraction job {job_id}.")
    return job


def job_rerun(*, job_id: Any, author: Any) -> ExtractionJob:
    """Queue a new job over a finished job's evidence (window, events, hint, trigger).

    Only finished jobs (completed, whatever the outcome, failed or cancelled) can be
    re-run, and only once while the re-run exists: a second re-run belongs on the
    newer job, so the chain of attempts stays a line a curator can follow.
    """
    if not settings.AUTOSKILL_EXTRACT_ENABLED:
        raise Conflict("Extraction is disabled (AUTOSKILL_EXTRACT_ENABLED=0).")
    by = _author_name(author)
    with transaction.atomic():
        job = _locked_job(job_id)
        rerun = ExtractionJob.objects.filter(rerun_of=job).only("pk").first()
        if rerun is not None:
            raise Conflict(
                f"Job {job.pk} was already re-run as job {rerun.pk}; "
                "re-run that one instead."
            )
        if job.status not in RERUNNABLE_STATUSES:
            raise Conflict(
                f"Job {job.pk} is {job.status}; only completed, failed or cancelled "
                "jobs can be re-run (cancel a queued job first)."
            )
        live = live_job_for_window(user=job.user, window_hash=job.window_hash)
        if live is not None and live.pk != job.pk:
            raise Conflict(
                f"Job {live.pk} ({live.status}) already covers this evidence; "
                "re-run that one instead."
            )
        # Leave the live set first, or the one-live-job-per-window constraint would
        # refuse the new row.
        job.superseded_at = timezone.now()
        job.save(update_fields=["superseded_at", "updated_at"])
        new, created = job_create(
            user=job.user,
            window=window_of(job),
            trigger=job.trigger,
            reference=job.reference,
            source={**job.source, "rerun_of": str(job.pk)},
        )
        if not created:  # a concurrent submission of the same window won the race
            raise Conflict(
                f"Job {new.pk} already covers this evidence; re-run that one instead."
            )
        new.rerun_of = job
        new.save(update_fields=["rerun_of", "updated_at"])
        job_event_add(
            job=new,
            message=f"re-run of job {job.pk} requested by {by}",
            data={"rerun_of": str(job.pk), "by": by},
        )
        job_event_add(
            job=job,
            message=f"re-run as job {new.pk} by {by}",
            data={"rerun_job_id": str(new.pk), "by": by},
            push=False,
        )
        enqueue_job(new)
    return new


def job_cancel(*, job_id: Any, author: Any) -> ExtractionJob:
    """Cancel a job no worker is running: queued (or waiting for a retry), or running
    under an expired lease (its worker died; the reaper would otherwise queue it again).

    A job running under a live lease is refused. Its worker does not look at the row
    between extracting and applying the decision, so marking it cancelled would not
    stop it: the skill would still change while the job claimed it had not. It ends on
    its own within the lease (AUTOSKILL_JOB_LEASE_SECONDS) or on a failure.
    """
    by = _author_name(author)
    now = timezone.now()
    with transaction.atomic():
        job = _locked_job(job_id)
        stoppable = ExtractionJob.objects.filter(pk=job.pk, status=JobStatus.SCHEDULED)
        if job.status == JobStatus.RUNNING:
            if job.lease_expires_at is None or job.lease_expires_at >= now:
                raise Conflict(
                    f"Job {job.pk} is running now and cannot be stopped safely: its "
                    "worker would still apply the decision. Wait for it to finish "
                    "(then re-run it if needed)."
                )
            stoppable = ExtractionJob.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, lease_expires_at__lt=now
            )
        elif job.status != JobStatus.SCHEDULED:
            raise Conflict(
                f"Job {job.pk} is already {job.status}; only queued jobs can be "
                "cancelled."
            )
        stopped = stoppable.update(
            status=JobStatus.CANCELLED,
            finished_at=now,
            run_after=None,
            lease_owner="",
            lease_expires_at=None,
        )
        if not stopped:  # not expected under the lock, but never report a false cancel
            raise Conflict(f"Job {job.pk} changed meanwhile; reload and try again.")
        job.refresh_from_db()
        job_event_add(job=job, message=f"cancelled by {by}", data={"by": by})
    return job
