"""The skill library pages: browse, read, history, and the one-click actions.

Every read and write goes through `skills.selectors` and `skills.services`, the same
rules the REST API applies: a user sees their own skills and every library skill,
library skills are read-only unless the user is staff, and another user's skill is a
404. The editor and import pages live in `proxy.skill_edit_pages`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from autoskill_site.exceptions import ApplicationError
from proxy.pages import csp
from proxy.skill_page_support import (
    read_only_reason,
    skill_or_404,
    with_writable_skill,
)
from skills.exporter import export_zip_spooled
from skills.models import Library, Skill, SkillStatus, SkillUsage, SkillVersion
from skills.selectors import (
    current_skill_md,
    diff_lines,
    skill_list_queryset,
    unified_diff,
)
from skills.services import skill_delete, skill_rollback, skill_set_status

PAGE_SIZE = 50
ZIP = "application/zip"
DEFAULT_FILTERS = {"q": "", "scope": "all", "library": "", "tag": "", "status": "live"}
STATUS_ACTIONS = {SkillStatus.ARCHIVED: "Archived", SkillStatus.ACTIVE: "Restored"}


class SkillFilterForm(forms.Form):
    """The list filters; every one is optional and they combine with AND."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    scope = forms.ChoiceField(
        required=False,
        choices=[
            ("all", "Mine and libraries"),
            ("user", "Mine"),
            ("library", "Libraries"),
        ],
        label="Show",
    )
    library = forms.ChoiceField(required=False, label="Library")
    tag = forms.CharField(required=False, max_length=200, label="Tag")
    status = forms.ChoiceField(
        required=False,
        choices=[("live", "Live"), ("archived", "Archived"), ("any", "Any")],
        label="Status",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        libraries = Library.objects.order_by("slug").values_list("slug", "name")
        self.fields["library"].choices = [
            ("", "Any library"),
            *((slug, name or slug) for slug, name in libraries),
        ]

    def filters(self) -> dict[str, str]:
        """The valid filters; a field that failed validation falls back to its default."""
        data = getattr(self, "cleaned_data", {})
        return {
            key: data.get(key) or default for key, default in DEFAULT_FILTERS.items()
        }


def _page_query(request: HttpRequest) -> str:
    """The current filters as a query string without `page`, for the page links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@csp
@login_required
@require_GET
def skill_list_view(request: HttpRequest) -> HttpResponse:
    """Own and library skills with search and filters, 50 to a page."""
    form = SkillFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.filters()
    skills = skill_list_queryset(user=request.user, filters=filters).order_by(
        "-updated_at", "name"
    )
    page = Paginator(skills, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "filters": filters,
        "filtered": filters != DEFAULT_FILTERS,
        "page_query": _page_query(request),
    }
    return render(request, "skills/list.html", context, status=200 if valid else 400)


@csp
@login_required
@require_GET
def skill_detail_view(request: HttpRequest, skill_id: Any) -> HttpResponse:
    """One skill: its metadata, rendered instructions, raw SKILL.md and actions."""
    skill = skill_or_404(request, skill_id)
    files = list(
        skill.files.order_by("path").values_list("path", "blob__size", named=True)
    )
    usage = SkillUsage.objects.filter(user=request.user, skill=skill).first()
    context = {
        "skill": skill,
        "skill_md": current_skill_md(skill),
        "files": files,
        "usage": usage,
        "read_only": read_only_reason(request.user, skill),
        "is_archived": skill.status == SkillStatus.ARCHIVED,
    }
    return render(request, "skills/detail.html", context)


def _versions_with_previous(skill: Skill) -> Any:
    earlier = SkillVersion.objects.filter(
        skill_id=OuterRef("skill_id"), number__lt=OuterRef("number")
    ).order_by("-number")
    # The previous text comes in the same query: a page of diffs is one query.
    return (
        SkillVersion.objects.filter(skill_id=skill.pk)
        .select_related("author")
        .annotate(
            previous_md=Subquery(earlier.values("skill_md")[:1]),
            previous_number=Subquery(earlier.values("number")[:1]),
        )
        .order_by("-number")
    )


def _diff(*, before: str, after: str, before_label: str, after_label: str) -> list:
    return diff_lines(
        unified_diff(
            before=before,
            after=after,
            before_label=before_label,
            after_label=after_label,
        )
    )


def _compare(request: HttpRequest, skill: Skill) -> tuple[dict | None, str | None]:
    """The `?compare=N` diff of version N against the current one, or an error."""
    raw = (request.GET.get("compare") or "").strip()
    if not raw:
        return None, None
    if not raw.isdigit():
        return None, f"compare must be a version number like 2, not “{raw[:40]}”."
    number = int(raw)
    old = (
        SkillVersion.objects.filter(skill_id=skill.pk, number=number)
        .values_list("skill_md", flat=True)
        .first()
    )
    if old is None:
        return None, (
            f"This skill has no version #{number}; its versions are "
            f"#1 to #{skill.version_number}."
        )
    lines = _diff(
        before=old,
        after=current_skill_md(skill),
        before_label=f"#{number}",
        after_label=f"#{skill.version_number} (current)",
    )
    return {"number": number, "lines": lines}, None


@csp
@login_required
@require_GET
def skill_history_view(request: HttpRequest, skill_id: Any) -> HttpResponse:
    """Every version newest first, each with its diff against the one before."""
    skill = skill_or_404(request, skill_id)
    page = Paginator(_versions_with_previous(skill), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "version": version,
            "is_current": version.number == skill.version_number,
            "lines": _diff(
                before=version.previous_md or "",
                after=version.skill_md,
                before_label=(
                    f"#{version.previous_number}"
                    if version.previous_number
                    else "(new)"
                ),
                after_label=f"#{version.number}",
            ),
        }
        for version in page.object_list
    ]
    compare, compare_error = _compare(request, skill)
    context = {
        "skill": skill,
        "page": page,
        "rows": rows,
        "compare": compare,
        "compare_error": compare_error,
        "read_only": read_only_reason(request.user, skill),
    }
    return render(
        request, "skills/history.html", context, status=400 if compare_error else 200
    )


def _posted_number(request: HttpRequest, name: str) -> int | None:
    raw = (request.POST.get(name) or "").strip()
    return int(raw) if raw.isdigit() else None


@csp
@login_required
@require_POST
@with_writable_skill
def skill_rollback_view(request: HttpRequest, skill: Skill) -> HttpResponse:
    """Restore an earlier version as a new version (history is never rewritten)."""
    to_number = _posted_number(request, "to_number")
    seen = _posted_number(request, "version_number")
    history = redirect("skill-history", skill_id=skill.pk)
    if to_number is None:
        messages.error(request, "Choose the version to roll back to.")
        return history
    if seen is not None and seen != skill.version_number:
        messages.error(
            request,
            f"The skill changed since you opened its history (it is now at "
            f"#{skill.version_number}); check the versions below and try again.",
        )
        return history
    before = skill.version_number
    try:
        updated = skill_rollback(
            skill_id=skill.pk, to_number=to_number, author=request.user
        )
    except ApplicationError as exc:
        messages.error(request, f"Nothing was rolled back: {exc.message}")
        return history
    if updated.version_number == before:
        messages.info(
            request, f"Version #{to_number} is the same as the current one; no change."
        )
    else:
        messages.success(
            request,
            f"Rolled back to #{to_number} as new version #{updated.version_number}.",
        )
    return redirect("skill-detail", skill_id=skill.pk)


@csp
@login_required
@require_POST
@with_writable_skill
def skill_status_view(request: HttpRequest, skill: Skill) -> HttpResponse:
    """Archive (hidden from retrieval, nothing deleted) or restore a skill."""
    status = request.POST.get("status", "")
    detail = redirect("skill-detail", skill_id=skill.pk)
    if status not in STATUS_ACTIONS:
        messages.error(
            request, f"Unknown status “{status[:40]}”; use archive or restore."
        )
        return detail
    try:
        skill_set_status(skill_id=skill.pk, status=status, author=request.user)
    except ApplicationError as exc:
        messages.error(request, f"The status was not changed: {exc.message}")
        return detail
    messages.success(request, f"{STATUS_ACTIONS[status]} “{skill.name}”.")
    return detail


@csp
@login_required
@require_POST
@with_writable_skill
def skill_delete_view(request: HttpRequest, skill: Skill) -> HttpResponse:
    """Delete a skill and its whole history (archive keeps it instead)."""
    try:
        skill_delete(skill_id=skill.pk)
    except ApplicationError as exc:
        messages.error(request, f"The skill was not deleted: {exc.message}")
        return redirect("skill-detail", skill_id=skill.pk)
    messages.success(
        request,
        f"Deleted “{skill.name}” and its {skill.version_number} version(s).",
    )
    return redirect("skill-list")


@csp
@login_required
@require_GET
def skill_export_view(request: HttpRequest, skill_id: Any) -> HttpResponse:
    """The skill's folder as a zip, the same archive the API's export serves."""
    skill = skill_or_404(request, skill_id)
    spool = export_zip_spooled(Skill.objects.filter(pk=skill.pk), flat=True)
    return FileResponse(
        spool, as_attachment=True, filename=f"{skill.name}.zip", content_type=ZIP
    )


@csp
@login_required
@require_GET
def skill_export_all_view(request: HttpRequest) -> HttpResponse:
    """All of the user's own skills (archived ones too) as `<name>/...` folders."""
    own = Skill.objects.filter(owner_id=request.user.pk, library__isnull=True)
    if not own.exists():
        messages.info(request, "You have no skills of your own to export yet.")
        return redirect("skill-list")
    spool = export_zip_spooled(own.order_by("name"), flat=True)
    filename = f"skills-{request.user.get_username()}.zip"
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=ZIP)
