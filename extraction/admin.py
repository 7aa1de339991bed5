"""Extraction jobs in the admin: what each one looked at, decided and changed; re-run, cancel.

Read-only: a job row is a record of what happened. The two things a curator may do to
one, re-run and cancel, go through `extraction.services` like every other writer.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import DurationField, ExpressionWrapper, F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from autoskill_site.exceptions import ApplicationError
from extraction.models import ExtractionJob, JobEvent, JobStatus
from extraction.services import job_cancel, job_rerun
from extraction.services.curation import RERUNNABLE_STATUSES
from skills.models import Skill

TEMPLATES = "admin/extraction/extractionjob"
MAX_ERRORS_SHOWN = 5


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _seconds(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def _can_cancel(job: ExtractionJob) -> bool:
    """Mirrors job_cancel: queued, or running under a lease that has run out."""
    if job.status == JobStatus.SCHEDULED:
        return True
    expired = job.lease_expires_at is not None and job.lease_expires_at < timezone.now()
    return job.status == JobStatus.RUNNING and expired


def _rerun_id(job: ExtractionJob) -> Any:
    """The job that re-ran this one, if it still exists (one query, detail page only)."""
    return (
        ExtractionJob.objects.filter(rerun_of=job).values_list("pk", flat=True).first()
    )


def _can_rerun(job: ExtractionJob) -> bool:
    """Mirrors job_rerun: finished, and not already re-run by a job that still exists."""
    return job.status in RERUNNABLE_STATUSES and _rerun_id(job) is None


class JobEventInline(admin.TabularInline):
    """The job's timeline, oldest first."""

    model = JobEvent
    fields = ("seq", "status", "message", "data", "created_at")
    readonly_fields = fields
    ordering = ("seq",)
    extra = 0
    can_delete = False
    verbose_name = "event"
    verbose_name_plural = "event timeline"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ExtractionJob)
class ExtractionJobAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "user",
        "trigger",
        "status",
        "outcome",
        "created_at",
        "duration",
        "attempts",
    )
    list_filter = ("status", "trigger", "outcome", "created_at", "finished_at")
    search_fields = ("id", "user__username")
    search_help_text = "Job id (or its beginning) or username."
    list_select_related = ("user",)
    list_per_page = 50
    actions = ["rerun_jobs", "cancel_jobs"]
    inlines = [JobEventInline]
    change_form_template = f"{TEMPLATES}/change_form.html"
    readonly_fields = (
        "id", "user", "trigger", "status", "outcome", "attempts_of", "created_at",
        "started_at", "finished_at", "duration", "run_after", "error", "lineage",
        "transcript", "decision_summary", "decision_record", "skills_changed",
        "source_record", "reference_record",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": (
            "id", "user", "trigger", "status", "outcome", "attempts_of", "created_at",
            "started_at", "finished_at", "duration", "run_after", "error", "lineage",
        )}),  # fmt: skip
        ("Evidence window (redacted)", {"fields": ("transcript",)}),
        ("Decision", {"fields": ("decision_summary", "skills_changed", "decision_record")}),
        ("Provenance", {"classes": ("collapse",), "fields": ("source_record", "reference_record")}),
    )  # fmt: skip

    class Media:
        css = {"all": ("css/admin_ops.css",)}

    # -- permissions: viewing is the model's view permission; acting is "change" --------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_curate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("extraction.change_extractionjob")

    # -- list ---------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[ExtractionJob]:
        # The last attempt's running time, computed by the database so it can be sorted.
        return (
            super()
            .get_queryset(request)
            .annotate(
                run_time=ExpressionWrapper(
                    F("finished_at") - F("started_at"), output_field=DurationField()
                )
            )
        )

    @admin.display(description="Job", ordering="created_at")
    def short_id(self, job: ExtractionJob) -> str:
        return str(job.pk)[:8]

    @admin.display(description="Duration", ordering="run_time")
    def duration(self, job: ExtractionJob) -> str:
        return _seconds(getattr(job, "run_time", None))

    # -- detail -------------------------------------------------------------------------
    @admin.display(description="Attempts")
    def attempts_of(self, job: ExtractionJob) -> str:
        return f"{job.attempts} of {job.max_attempts}"

    @admin.display(description="Re-runs")
    def lineage(self, job: ExtractionJob) -> SafeString | str:
        parts = []
        if job.rerun_of_id is not None:
            parts.append(format_html("Re-run of {}", self._job_link(job.rerun_of_id)))
        rerun_id = _rerun_id(job)
        if rerun_id is not None:
            parts.append(format_html("re-run as {}", self._job_link(rerun_id)))
        elif job.superseded_at is not None:
            parts.append(
                format_html(
                    "re-run on {} (that job was since pruned)", job.superseded_at
                )
            )
        return format_html_join("; ", "{}", ((p,) for p in parts)) if parts else "-"

    def _job_link(self, job_id: Any) -> SafeString:
        url = reverse("admin:extraction_extractionjob_change", args=[job_id])
        return format_html('<a href="{}">{}</a>', url, str(job_id))

    @admin.display(description="Conversation")
    def transcript(self, job: ExtractionJob) -> SafeString:
        window = job.window if isinstance(job.window, list) else []
        turns = [
            {"role": str(m.get("role") or "?"), "content": str(m.get("content") or "")}
            for m in window
            if isinstance(m, dict)
        ]
        events = job.events if isinstance(job.events, list) else []
        return render_to_string(
            f"{TEMPLATES}/_transcript.html",
            {
                "turns": turns,
                "hint": job.hint,
                "events": events,
                "events_json": _pretty_json(events),
            },
        )

    def _skills_named(self, job: ExtractionJob) -> dict[str, dict[str, Any]]:
        """Every skill the decision or the result names, in one query per page view."""
        cached = getattr(job, "_named_skills", None)
        if cached is not None:
            return cached
        decision = job.decision if isinstance(job.decision, dict) else {}
        ids = {str(decision.get("target_skill_id") or "")}
        ids |= {
            str(n.get("id"))
            for n in decision.get("neighbours") or []
            if isinstance(n, dict)
        }
        ids |= {str(s.get("id")) for s in job.upserted or [] if isinstance(s, dict)}
        valid = [i for i in ids if _is_uuid(i)]
        rows = Skill.objects.filter(pk__in=valid).values(
            "pk", "title", "name", "status"
        )
        named = {
            str(row["pk"]): {
                **row,
                "url": reverse("admin:skills_skill_change", args=[row["pk"]]),
            }
            for row in rows
        }
        job._named_skills = named  # type: ignore[attr-defined]
        return named

    @admin.display(description="Summary")
    def decision_summary(self, job: ExtractionJob) -> SafeString:
        decision = job.decision if isinstance(job.decision, dict) else {}
        named = self._skills_named(job)
        target_id = str(decision.get("target_skill_id") or "")
        neighbours = [
            {**n, "skill": named.get(str(n.get("id")))}
            for n in decision.get("neighbours") or []
            if isinstance(n, dict)
        ]
        candidate = decision.get("candidate")
        return render_to_string(
            f"{TEMPLATES}/_decision.html",
            {
                "decision": decision,
                "target_id": target_id,
                "target": named.get(target_id),
                "neighbours": neighbours,
                "candidate": candidate if isinstance(candidate, dict) else None,
                "llm": decision.get("llm")
                if isinstance(decision.get("llm"), dict)
                else None,
            },
        )

    @admin.display(description="Skills added or merged")
    def skills_changed(self, job: ExtractionJob) -> SafeString:
        named = self._skills_named(job)
        upserted = [
            {**s, "skill": named.get(str(s.get("id")))}
            for s in job.upserted or []
            if isinstance(s, dict)
        ]
        return render_to_string(f"{TEMPLATES}/_skills.html", {"upserted": upserted})

    @admin.display(description="Decision record (JSON)")
    def decision_record(self, job: ExtractionJob) -> SafeString:
        return self._json_block(job.decision, "decision record")

    @admin.display(description="Source")
    def source_record(self, job: ExtractionJob) -> SafeString:
        return self._json_block(job.source, "source")

    @admin.display(description="Reference skill at trigger time")
    def reference_record(self, job: ExtractionJob) -> SafeString:
        return self._json_block(job.reference, "reference")

    def _json_block(self, value: Any, label: str) -> SafeString:
        return render_to_string(
            f"{TEMPLATES}/_json.html",
            {"json": _pretty_json(value), "label": label, "empty": not value},
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ExtractionJob | None = None,
    ) -> HttpResponse:
        if obj is not None and self.has_curate_permission(request):
            context.update(
                can_rerun=_can_rerun(obj),
                can_cancel=_can_cancel(obj),
                rerun_url=reverse(
                    "admin:extraction_extractionjob_rerun", args=[obj.pk]
                ),
                cancel_url=reverse(
                    "admin:extraction_extractionjob_cancel", args=[obj.pk]
                ),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- actions ------------------------------------------------------------------------
    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/rerun/", view(self.rerun_view), name="extraction_extractionjob_rerun"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name="extraction_extractionjob_cancel"),
            *super().get_urls(),
        ]  # fmt: skip

    def _one(
        self, request: HttpRequest, object_id: str, service: Any, done: str
    ) -> HttpResponseRedirect:
        """POST a re-run or cancel of one job from its page; errors come back as messages."""
        if not self.has_curate_permission(request):
            raise PermissionDenied
        here = reverse("admin:extraction_extractionjob_change", args=[object_id])
        if request.method != "POST":
            self.message_user(
                request, "Use the buttons on the job's page.", messages.WARNING
            )
            return HttpResponseRedirect(here)
        try:
            job = service(job_id=object_id, author=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(here)
        self.message_user(request, done.format(job=job.pk), messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:extraction_extractionjob_change", args=[job.pk])
        )

    def rerun_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        return self._one(
            request, object_id, job_rerun, "Queued job {job} to re-run the extraction."
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        return self._one(request, object_id, job_cancel, "Cancelled job {job}.")

    def _bulk(
        self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str
    ) -> None:
        done, errors = 0, []
        for job_id in queryset.values_list("pk", flat=True):
            try:
                service(job_id=job_id, author=request.user)
            except ApplicationError as exc:
                errors.append(exc.message)
            else:
                done += 1
        if done:
            self.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
        for message in errors[:MAX_ERRORS_SHOWN]:
            self.message_user(request, message, messages.ERROR)
        if len(errors) > MAX_ERRORS_SHOWN:
            self.message_user(
                request,
                f"... and {len(errors) - MAX_ERRORS_SHOWN} more job(s) could not be changed.",
                messages.ERROR,
            )

    @admin.action(
        description="Re-run selected jobs (as new jobs)", permissions=["curate"]
    )
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, job_rerun, "Queued re-runs of")

    @admin.action(description="Cancel selected queued jobs", permissions=["curate"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, job_cancel, "Cancelled")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
