"""The life of an ExtractionJob: submit, claim (fair, capped), lease, finish, retry, reap.

django-tasks-db runs tasks but has no retries and no reaper: a task whose worker
died stays "running" forever. So the job row carries its own lease. A running job
renews it (heartbeat); `jobs_reap` returns jobs with an expired lease to the queue,
and the next task picks them up again. Claims pick the oldest due job of a user with
nothing running before anyone else's next job (per-user fairness), and never start
more than AUTOSKILL_MAX_BG_EXTRACT_JOBS at once across all workers.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from extraction.events import job_event_add
from extraction.evidence import EvidenceWindow
from extraction.models import ExtractionJob, JobOutcome, JobStatus
from extraction.redaction import redact_text

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
CLAIM_SCAN = 50
_CLAIM_LOCK_KEY = 0x617574_6F736B  # any constant shared by every worker


def _now() -> datetime:
    return timezone.now()


def _lease() -> timedelta:
    return timedelta(seconds=settings.AUTOSKILL_JOB_LEASE_SECONDS)


def live_job_for_window(*, user: Any, window_hash: str) -> ExtractionJob | None:
    return (
        ExtractionJob.objects.filter(
            user=user, window_hash=window_hash, superseded_at__isnull=True
        )
        .exclude(status=JobStatus.FAILED)
        .first()
    )


def job_create(
    *,
    user: Any,
    window: EvidenceWindow,
    trigger: str,
    reference: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    job_id: uuid.UUID | None = None,
) -> tuple[ExtractionJob, bool]:
    """The job for this window: a new one (with `job_id` when the caller already
    announced it), or the live one that already covers it."""
    existing = live_job_for_window(user=user, window_hash=window.window_hash)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            job = ExtractionJob.objects.create(
                id=job_id or uuid.uuid4(),
                user=user,
                trigger=trigger,
                hint=window.hint,
                window=[dict(m) for m in window.messages],
                events=list(window.events),
                window_hash=window.window_hash,
                reference=reference,
                source=dict(source or {}),
                max_attempts=settings.AUTOSKILL_JOB_MAX_ATTEMPTS,
            )
            job_event_add(job=job, message="scheduled")
    except IntegrityError:
        # The same window was submitted concurrently; the other submission won.
        existing = live_job_for_window(user=user, window_hash=window.window_hash)
        if existing is None:
            raise
        return existing, False
    return job, True


def _claim_lock() -> None:
    """Serialise claims so the concurrency cap is exact across worker processes.

    SQLite transactions here are IMMEDIATE (one writer at a time) already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK_KEY])


def _take(job_id: Any, worker: str, now: datetime) -> ExtractionJob | None:
    taken = ExtractionJob.objects.filter(pk=job_id, status=JobStatus.SCHEDULED).update(
        status=JobStatus.RUNNING,
        lease_owner=worker,
        lease_expires_at=now + _lease(),
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    if not taken:
        return None
    job = ExtractionJob.objects.get(pk=job_id)
    job_event_add(job=job, message=f"running (attempt {job.attempts})")
    return job


def job_claim(
    *, worker: str = WORKER_ID, job_id: Any = None, capped: bool = True
) -> ExtractionJob | None:
    """Start the fairest due job (or exactly `job_id`); None when none is due or the cap is full."""
    now = _now()
    with transaction.atomic():
        _claim_lock()
        running = ExtractionJob.objects.filter(
            status=JobStatus.RUNNING, lease_expires_at__gt=now
        )
        if capped and running.count() >= settings.AUTOSKILL_MAX_BG_EXTRACT_JOBS:
            return None
        if job_id is not None:
            return _take(job_id, worker, now)
        due = (
            ExtractionJob.objects.filter(status=JobStatus.SCHEDULED)
            .filter(Q(run_after__isnull=True) | Q(run_after__lte=now))
            .order_by("created_at")
            .values_list("pk", "user_id")[:CLAIM_SCAN]
        )
        busy = set(running.values_list("user_id", flat=True))
        queue = list(due)
        ordered = [pk for pk, user in queue if user not in busy] + [
            pk for pk, user in queue if user in busy
        ]
        for pk in ordered:
            job = _take(pk, worker, now)
            if job is not None:
                return job
    return None


def job_heartbeat(*, job: ExtractionJob, worker: str = WORKER_ID) -> bool:
    """Extend the lease; False when the job is no longer ours (reaped or finished)."""
    now = _now()
    return bool(
        ExtractionJob.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, lease_owner=worker
        ).update(lease_expires_at=now + _lease(), heartbeat_at=now)
    )


class Heartbeat:
    """Renews a job's lease every lease/3 seconds while the `with` block runs."""

    def __init__(self, job: ExtractionJob, worker: str = WORKER_ID) -> None:
        self.job, self.worker = job, worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{job.pk}", daemon=True
        )

    def _run(self) -> None:
        interval = max(1.0, settings.AUTOSKILL_JOB_LEASE_SECONDS / 3)
        try:
            while not self._stop.wait(interval):
                if not job_heartbeat(job=self.job, worker=self.worker):
                    return
        finally:
            connections.close_all()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _release(job: ExtractionJob, worker: str, **fields: Any) -> bool:
    """Write a terminal or retry state, but only while we still hold the lease."""
    updated = ExtractionJob.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, lease_owner=worker
    ).update(lease_owner="", lease_expires_at=None, **fields)
    if updated:
        job.refresh_from_db()
    return bool(updated)


def job_complete(
    *,
    job: ExtractionJob,
    outcome: str,
    decision: dict[str, Any],
    upserted: list[dict[str, Any]],
    worker: str = WORKER_ID,
) -> bool:
    done = _release(
        job, worker, status=JobStatus.COMPLETED, outcome=outcome, decision=decision,
        upserted=upserted, error="", finished_at=_now(),
    )  # fmt: skip
    if done:
        job_event_add(job=job, message=outcome, data={"decision": _brief(decision)})
    return done


def _brief(decision: dict[str, Any]) -> dict[str, Any]:
    return {
        k: decision.get(k)
        for k in ("action", "target_skill_id", "reason", "decided_by", "similarity")
    }


def retry_delay(attempts: int) -> float:
    base = settings.AUTOSKILL_JOB_RETRY_DELAY
    return base * (2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)  # noqa: S311


def job_fail(
    *, job: ExtractionJob, error: str, retryable: bool, worker: str = WORKER_ID
) -> bool:
    """Back to the queue after a delay while attempts remain and the error is transient; else failed."""
    error = redact_text(error)[:2000]  # model errors may echo the request
    if retryable and job.attempts < job.max_attempts:
        run_after = _now() + timedelta(seconds=retry_delay(job.attempts))
        if _release(
            job, worker, status=JobStatus.SCHEDULED, run_after=run_after, error=error
        ):
            job_event_add(job=job, message=f"retry scheduled: {error[:200]}")
            enqueue_job(job, run_after=run_after)
            return True
        return False
    failed = _release(
        job,
        worker,
        status=JobStatus.FAILED,
        outcome=JobOutcome.ERROR,
        error=error,
        finished_at=_now(),
    )
    if failed:
        job_event_add(job=job, message=f"failed: {error[:200]}")
    return failed


def jobs_reap(*, now: datetime | None = None) -> list[str]:
    """Requeue running jobs whose lease expired (their worker died); returns their ids."""
    now = now or _now()
    reaped = []
    expired = ExtractionJob.objects.filter(
        status=JobStatus.RUNNING, lease_expires_at__lt=now
    )
    for job in expired.only("pk", "attempts", "max_attempts", "lease_owner"):
        if job.attempts < job.max_attempts:
            fields: dict[str, Any] = {"status": JobStatus.SCHEDULED, "run_after": None}
        else:
            fields = {
                "status": JobStatus.FAILED, "outcome": JobOutcome.ERROR, "finished_at": now,
                "error": "the worker stopped responding on every attempt",
            }  # fmt: skip
        if _release(job, job.lease_owner, **fields):
            message = (
                "resumed: the previous worker stopped"
                if fields["status"] == JobStatus.SCHEDULED
                else "failed: worker lost"
            )
            job_event_add(job=job, message=message)
            if job.status == JobStatus.SCHEDULED:
                enqueue_job(job)
            reaped.append(str(job.pk))
    if reaped:
        logger.warning("reaped %d extraction job(s) with expired leases", len(reaped))
    return reaped


def enqueue_job(job: ExtractionJob, *, run_after: datetime | None = None) -> None:
    """Queue a django-tasks task that will claim a job (this one or a fairer one) after commit."""
    from extraction.tasks import run_extraction_job

    def send() -> None:
        task = (
            run_extraction_job.using(run_after=run_after)
            if run_after
            else run_extraction_job
        )
        task.enqueue(str(job.pk))

    transaction.on_commit(send)
