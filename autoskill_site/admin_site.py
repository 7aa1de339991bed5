"""The admin site: Django's, with the curation dashboard as its index page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from autoskill_site.dashboard import dashboard_counts
from extraction.models import JobOutcome, JobStatus

_ENDINGS = {**dict(JobOutcome.choices), JobStatus.CANCELLED.value: "Cancelled"}


def _review_queue_url() -> str:
    """The review queue's changelist, or the skill list filtered to drafts without it."""
    try:
        return reverse("admin:skills_skilldraft_changelist")
    except NoReverseMatch:
        return _skill_list_url(status__exact="draft")


def _skill_list_url(**params: str) -> str:
    try:
        base = reverse("admin:skills_skill_changelist")
    except NoReverseMatch:
        return ""
    return f"{base}?{urlencode(params)}" if params else base


def _job_list_url(**params: str) -> str:
    try:
        base = reverse("admin:extraction_extractionjob_changelist")
    except NoReverseMatch:
        return ""
    return f"{base}?{urlencode(params)}" if params else base


class AutoSkillAdminSite(admin.AdminSite):
    """Curators land on the counts that need attention, above the usual app list."""

    site_header = "AutoSkill Studio administration"
    site_title = "AutoSkill Studio admin"
    index_title = "Dashboard"
    index_template = "admin/dashboard.html"

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        user = request.user
        show_skills = user.has_perm("skills.view_skill")
        show_jobs = user.has_perm("extraction.view_extractionjob")
        counts = dashboard_counts(include_skills=show_skills, include_jobs=show_jobs)
        since = counts.since.isoformat(timespec="seconds")
        context = {
            "dashboard": counts,
            "show_skills": show_skills,
            "show_jobs": show_jobs,
            "review_queue_url": _review_queue_url(),
            "stale_url": _skill_list_url(stale="yes"),
            "skills_by_status": [
                (status, n, _skill_list_url(status__exact=status))
                for status, n in counts.skills_by_status.items()
            ],
            "jobs_finished": [
                (
                    label,
                    _ENDINGS.get(label, label),
                    n,
                    _job_list_url(**_finished_filter(label), finished_at__gte=since),
                )
                for label, n in counts.jobs_finished.items()
            ],
            "jobs_in_flight": [
                (status, n, _job_list_url(status__exact=status))
                for status, n in counts.jobs_in_flight.items()
            ],
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)


def _finished_filter(label: str) -> dict[str, str]:
    # A cancelled job has no outcome; every other finished job is told by its outcome.
    if label == "cancelled":
        return {"status__exact": label}
    return {"outcome__exact": label}
