"""JSON shapes of extraction jobs and events, and the serializers that document them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from extraction.events import event_payload
from extraction.models import ExtractionJob, JobEvent, JobStatus

__all__ = [
    "ExtractionEventSerializer",
    "ExtractionJobDetailSerializer",
    "ExtractionJobSerializer",
    "job_detail",
    "job_summary",
    "latest_event",
]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def job_summary(job: ExtractionJob) -> dict[str, Any]:
    """A job as listed: status, outcome, what it changed, when."""
    return {
        "object": "extraction_job",
        "id": str(job.pk),
        "status": job.status,
        "outcome": job.outcome or None,
        "trigger": job.trigger,
        "hint": job.hint,
        "error": job.error,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "upserted": list(job.upserted or []),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def job_detail(job: ExtractionJob) -> dict[str, Any]:
    """A job with its decision record, evidence window (redacted) and every event."""
    events = list(JobEvent.objects.filter(job=job).order_by("pk"))
    for event in events:
        event.job = job  # event_payload reads the job; spare a query per event
    summary = job_summary(job)
    return {
        **summary,
        # The original's evaluation client reads `data.status` / `data.upserted[].id`.
        "data": summary,
        "decision": dict(job.decision or {}),
        "reference": job.reference,
        "source": dict(job.source or {}),
        "window": list(job.window or []),
        "events": [event_payload(e) for e in events],
    }


def latest_event(job: ExtractionJob) -> dict[str, Any] | None:
    event = JobEvent.objects.filter(job=job).order_by("-pk").first()
    if event is None:
        return None
    event.job = job
    return event_payload(event)


class ExtractionEventSerializer(serializers.Serializer):
    """One status transition of a job (`event_id` is the SSE `id:`)."""

    event_id = serializers.IntegerField()
    job_id = serializers.UUIDField()
    seq = serializers.IntegerField()
    status = serializers.ChoiceField(choices=list(JobStatus.values))
    outcome = serializers.CharField(allow_null=True)
    trigger = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    upserted = serializers.ListField(child=serializers.DictField())
    data = serializers.DictField()
    event_time = serializers.DateTimeField()


class ExtractionJobSerializer(serializers.Serializer):
    object = serializers.CharField(default="extraction_job")
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=list(JobStatus.values))
    outcome = serializers.CharField(
        allow_null=True,
        help_text="no_candidate, added, merged, discarded or error once finished.",
    )
    trigger = serializers.CharField()
    hint = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    upserted = serializers.ListField(
        child=serializers.DictField(),
        help_text="Skills added or merged: id, name, version.",
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ExtractionJobDetailSerializer(ExtractionJobSerializer):
    decision = serializers.DictField(
        help_text="Candidate, neighbours, action, target, reason, similarity."
    )
    reference = serializers.DictField(allow_null=True)
    source = serializers.DictField()
    window = serializers.ListField(
        child=serializers.DictField(), help_text="The redacted messages looked at."
    )
    events = ExtractionEventSerializer(many=True)
    data = serializers.DictField(
        help_text="The job summary again, where the original's clients read it."
    )
