"""Extraction jobs and their events: the durable record of every learning attempt.

The queue itself is django-tasks' table; these rows carry the domain state users and
curators look at (what was proposed, what maintenance decided and why, which skills
changed) plus the lease that lets a reaper resume a job whose worker died.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class JobStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    # A curator stopped it while no live worker held it; it is never run again.
    CANCELLED = "cancelled"


TERMINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobOutcome(models.TextChoices):
    """What an attempt led to; a discard is a decision, never confused with a failure."""

    NO_CANDIDATE = "no_candidate"
    ADDED = "added"
    MERGED = "merged"
    DISCARDED = "discarded"
    ERROR = "error"


class JobTrigger(models.TextChoices):
    CHAT_AUTO = "chat_auto"
    EXTRACT_NOW = "extract_now"
    PROXY = "proxy"
    PROXY_EXTRACT_NOW = "proxy_extract_now"
    IMPORT_CONVERSATION = "import_conversation"
    IMPORT_TRAJECTORY = "import_trajectory"


class ExtractionJob(models.Model):
    """One extraction attempt over one redacted evidence window.

    `window_hash` identifies the evidence: a client that re-sends the same history, or
    an import run again, finds the earlier job instead of extracting twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="extraction_jobs",
    )
    trigger = models.CharField(max_length=32, choices=JobTrigger.choices)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.SCHEDULED
    )
    outcome = models.CharField(max_length=16, choices=JobOutcome.choices, blank=True)
    hint = models.TextField(blank=True)
    window = models.JSONField(
        default=list, help_text="Redacted messages the extraction looks at."
    )
    events = models.JSONField(
        default=list, blank=True, help_text="Redacted tool events (trajectories)."
    )
    window_hash = models.CharField(max_length=64, db_index=True)
    reference = models.JSONField(
        null=True,
        blank=True,
        help_text="Top retrieved skill at trigger time: identity context, not evidence.",
    )
    source = models.JSONField(default=dict, blank=True)
    decision = models.JSONField(
        default=dict,
        blank=True,
        help_text="Candidate, neighbours, action, target, reason, similarity.",
    )
    upserted = models.JSONField(default=list, blank=True)
    rerun_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rerun",
        help_text="The finished job a curator re-ran as this one.",
    )
    superseded_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a curator re-ran this job; its re-run then owns the window.",
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    run_after = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="job_user_created"),
            models.Index(fields=["status", "created_at"], name="job_status_created"),
            models.Index(fields=["status", "lease_expires_at"], name="job_lease"),
        ]
        constraints = [
            # A failed window may be submitted again; anything else is a duplicate,
            # unless a curator re-ran it (the re-run then owns the window).
            models.UniqueConstraint(
                fields=["user", "window_hash"],
                condition=~Q(status="failed") & Q(superseded_at__isnull=True),
                name="job_unique_live_window_per_user",
            ),
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="job_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.trigger} {self.id} ({self.status}{'/' + self.outcome if self.outcome else ''})"


class JobEvent(models.Model):
    """One status transition or progress note of a job, in order (`seq` per job).

    Browsers read these rows when no Redis channel layer can push them.
    """

    job = models.ForeignKey(
        ExtractionJob, on_delete=models.CASCADE, related_name="job_events"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    seq = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=JobStatus.choices)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "id"], name="jobevent_user_id")]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="jobevent_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq} {self.status}"
