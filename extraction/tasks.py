"""django-tasks entry points: thin wrappers that claim a job row and run it."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from extraction.jobs import job_claim, jobs_reap
from extraction.models import ExtractionJob, JobStatus
from extraction.pipeline import job_run

CAP_WAIT_SECONDS = 2


@task(queue_name="extraction")
def run_extraction_job(job_id: str) -> str:
    """Run the fairest due job; `job_id` is the job that queued this task.

    Each job queues one task, so claiming another user's older job instead only
    reorders work: the skipped job is claimed by a later task. When the concurrency
    cap is full, the task queues itself again a little later.
    """
    jobs_reap()
    job = job_claim()
    if job is None:
        now = timezone.now()
        due = ExtractionJob.objects.filter(status=JobStatus.SCHEDULED).filter(
            Q(run_after__isnull=True) | Q(run_after__lte=now)
        )
        if due.exists():
            later = now + timedelta(seconds=CAP_WAIT_SECONDS)
            run_extraction_job.using(run_after=later).enqueue(job_id)
            return "deferred: concurrency cap reached"
        return "nothing due"
    job = job_run(job=job)
    return f"{job.pk}: {job.status} {job.outcome}".strip()
