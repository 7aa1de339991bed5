"""Submit, run inline, or simulate an extraction over a conversation window."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from autoskill_site.exceptions import Conflict, InvalidInput
from autoskill_site.providers.llm import LLMClient
from extraction.evidence import EvidenceWindow, build_window
from extraction.jobs import WORKER_ID, enqueue_job, job_claim, job_create, jobs_reap
from extraction.models import ExtractionJob, JobStatus
from extraction.pipeline import job_run, simulate
from retrieval.hits import hit_reference
from retrieval.search import MAX_QUERY_CHARS, skill_search


@dataclass(frozen=True)
class IngestResult:
    """What one inline extraction did (the importers' unit of report)."""

    job_id: str | None
    status: str
    outcome: str
    skills: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    decision: dict[str, Any] = field(default_factory=dict)


def _window(
    messages: Sequence[Any], events: Sequence[Any], hint: str | None, max_messages: int
) -> EvidenceWindow:
    if not settings.AUTOSKILL_EXTRACT_ENABLED:
        raise Conflict("Extraction is disabled (AUTOSKILL_EXTRACT_ENABLED=0).")
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise InvalidInput("messages must be a list of {role, content} objects.")
    window = build_window(messages, events=events, hint=hint, max_messages=max_messages)
    if window.is_empty:
        raise InvalidInput(
            "The extraction window holds no user message, tool event or hint."
        )
    return window


def reference_for(*, user: Any, query: str) -> dict[str, Any] | None:
    """The top retrieved skill for `query`: identity context for extraction, never evidence."""
    try:
        hits = skill_search(user=user, query=query[:MAX_QUERY_CHARS], top_k=1).hits
    except InvalidInput:
        return None
    return hit_reference(hits[0]) if hits else None


def extraction_submit(
    *,
    user: Any,
    messages: Sequence[Any],
    trigger: str,
    events: Sequence[Any] = (),
    hint: str | None = None,
    reference: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    max_messages: int | None = None,
    job_id: uuid.UUID | None = None,
) -> tuple[ExtractionJob, bool]:
    """Queue a background job for this window; (job, created). A re-sent window returns its job."""
    limit = settings.AUTOSKILL_INGEST_WINDOW if max_messages is None else max_messages
    window = _window(messages, events, hint, limit)
    if reference is None and window.user_turns:
        reference = reference_for(user=user, query=window.user_turns[-1])
    job, created = job_create(
        user=user, window=window, trigger=trigger,
        reference=dict(reference) if reference else None, source=dict(source or {}),
        job_id=job_id,
    )  # fmt: skip
    if created:
        jobs_reap()
        enqueue_job(job)
    return job, created


def extraction_ingest(
    *,
    user: Any,
    messages: Sequence[Any],
    trigger: str,
    events: Sequence[Any] = (),
    hint: str | None = None,
    source: Mapping[str, Any] | None = None,
    llm: LLMClient | None = None,
    simulate: bool = False,
    max_messages: int = 0,
) -> IngestResult:
    """Extract in the caller's thread (importers): a job row, run now, no queue.

    The whole window is used (importers clip it themselves). A window already
    processed for this user is reported as `duplicate`, which is how imports resume.
    """
    window = _window(messages, events, hint, max_messages)
    if simulate:
        report = _simulate(user=user, window=window, llm=llm)
        return IngestResult(
            job_id=None, status="completed", outcome="simulated", decision=report
        )
    existing = ExtractionJob.objects.filter(
        user=user, window_hash=window.window_hash, status=JobStatus.COMPLETED
    ).first()
    if existing is not None:
        return IngestResult(
            job_id=str(existing.pk), status=existing.status, outcome="duplicate",
            skills=list(existing.upserted), decision=dict(existing.decision),
        )  # fmt: skip
    job, _ = job_create(
        user=user, window=window, trigger=trigger, source=dict(source or {})
    )
    claimed = job_claim(job_id=job.pk, capped=False, worker=WORKER_ID)
    if claimed is None:
        job.refresh_from_db()
        return IngestResult(
            job_id=str(job.pk), status=job.status, outcome="duplicate",
            error="another worker is processing this window",
        )  # fmt: skip
    job = job_run(job=claimed, llm=llm)
    while job.status == JobStatus.SCHEDULED:
        # A transient failure: retry here, after the job's backoff, instead of
        # leaving the import's unit to a background worker.
        wait = (job.run_after - timezone.now()).total_seconds() if job.run_after else 0
        time.sleep(max(0.0, wait))
        claimed = job_claim(job_id=job.pk, capped=False, worker=WORKER_ID)
        if claimed is None:
            break
        job = job_run(job=claimed, llm=llm)
    return IngestResult(
        job_id=str(job.pk), status=job.status, outcome=job.outcome or "error",
        skills=list(job.upserted), error=job.error, decision=dict(job.decision),
    )  # fmt: skip


def _simulate(
    *,
    user: Any,
    window: EvidenceWindow,
    llm: LLMClient | None,
    reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return simulate(
        user=user,
        window=window,
        llm=llm,
        reference=dict(reference) if reference else None,
    )


def extraction_simulate(
    *,
    user: Any,
    messages: Sequence[Any],
    hint: str | None = None,
    reference: Mapping[str, Any] | None = None,
    llm: LLMClient | None = None,
) -> dict[str, Any]:
    """Dry run: the candidate and the maintenance decision, with nothing stored."""
    window = _window(messages, (), hint, settings.AUTOSKILL_INGEST_WINDOW)
    if reference is None and window.user_turns:
        reference = reference_for(user=user, query=window.user_turns[-1])
    return _simulate(user=user, window=window, llm=llm, reference=reference)
