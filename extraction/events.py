"""Job events: one row per transition, pushed to the owner's channel group after commit.

With the Redis channel layer a worker process reaches browsers directly; with the
in-memory layer (embedded default) a separate worker cannot, so the rows are the
source and readers poll them. Either way the row is written first: a push is only a
shortcut.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import Max

from extraction.models import ExtractionJob, JobEvent
from extraction.redaction import redact_value

logger = logging.getLogger(__name__)

MAX_SKILLS_IN_EVENT = 3


def user_group(user_id: object) -> str:
    """The Channels group of a user's job events (consumers join it on connect)."""
    return f"autoskill.jobs.{user_id}"


def event_payload(event: JobEvent) -> dict[str, Any]:
    job = event.job
    return {
        "event_id": event.pk,
        "job_id": str(job.pk),
        "seq": event.seq,
        "status": event.status,
        "outcome": job.outcome or None,
        "trigger": job.trigger,
        "message": event.message,
        "error": job.error if event.status == "failed" else "",
        "upserted": job.upserted if event.status == "completed" else [],
        "data": event.data,
        "event_time": event.created_at.isoformat(),
    }


def job_event_add(
    *,
    job: ExtractionJob,
    message: str = "",
    data: dict[str, Any] | None = None,
    push: bool = True,
) -> JobEvent:
    """Append the job's current status as an event (redacted), then push it after commit.

    `push=False` records a note on a finished job without pushing it: browsers read a
    pushed "completed" or "failed" event as news and would announce the job again.
    """
    with transaction.atomic():
        last = JobEvent.objects.filter(job=job).aggregate(m=Max("seq"))["m"] or 0
        event = JobEvent.objects.create(
            job=job,
            user_id=job.user_id,
            seq=last + 1,
            status=job.status,
            message=redact_value(message)[:500],
            data=redact_value(data or {}),
        )
        if push:
            transaction.on_commit(lambda: _push(event))
    return event


def _push(event: JobEvent) -> None:
    # With the in-memory layer this reaches only consumers in this process (a
    # worker process has none, so browsers poll the rows); with Redis it reaches all.
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            user_group(event.user_id),
            {"type": "job.event", "event": event_payload(event)},
        )
    except Exception:  # noqa: BLE001 - the row is the record; a lost push is a poll away
        logger.warning("could not push job event %s", event.pk, exc_info=True)


def job_events_after(
    *, user: Any, after_id: int = 0, job_id: Any = None, limit: int = 100
) -> list[dict]:
    """The user's events newer than `after_id`, oldest first (the polling path)."""
    query = JobEvent.objects.filter(user=user, pk__gt=after_id).select_related("job")
    if job_id is not None:
        query = query.filter(job_id=job_id)
    return [event_payload(e) for e in query.order_by("pk")[: max(1, min(limit, 500))]]
