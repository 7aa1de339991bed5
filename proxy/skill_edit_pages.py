"""The SKILL.md editor (new and existing skills) and its live check endpoint.

Saving checks the text with `proxy.skill_page_support.skill_md_check`, the same
check the live preview calls, so what the preview accepts is what saving accepts.
Edits are compare-and-set on the version number the editor was opened at: a skill
that changed meanwhile is never overwritten, and the user's text is kept on the page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from autoskill_site.exceptions import ApplicationError, Conflict
from proxy.pages import csp
from proxy.skill_page_support import (
    NEW_SKILL_MD,
    Problem,
    SkillMdCheck,
    preview_fields,
    skill_md_check,
    skill_or_404,
    with_writable_skill,
)
from skills.models import Skill, VersionOrigin
from skills.selectors import current_skill_md
from skills.services import skill_create, skill_update


def _editor(
    request: HttpRequest,
    *,
    skill: Skill | None,
    text: str,
    version_number: int | None,
    check: SkillMdCheck | None = None,
    stale: int | None = None,
    status: int = 200,
) -> HttpResponse:
    """The editor page; a failed save comes back here with the user's text kept."""
    check = check or skill_md_check(text=text, skill=skill)
    context = {
        "skill": skill,
        "text": text,
        "version_number": version_number,
        "problems": check.problems,
        "preview": preview_fields(check.fields) if check.fields else None,
        "body": check.body,
        "stale": stale,
        "action": (
            reverse("skill-edit", kwargs={"skill_id": skill.pk})
            if skill
            else reverse("skill-create")
        ),
    }
    return render(request, "skills/edit.html", context, status=status)


def _posted_text(request: HttpRequest) -> str:
    return request.POST.get("skill_md", "").replace("\r\n", "\n")


def _refused(
    request: HttpRequest,
    exc: ApplicationError,
    *,
    skill: Skill | None,
    text: str,
    version_number: int | None,
    check: SkillMdCheck,
) -> HttpResponse:
    """The editor again, the user's text kept, with the service's refusal inline."""
    failed = SkillMdCheck(None, [Problem(None, exc.message)], check.body)
    return _editor(
        request,
        skill=skill,
        text=text,
        version_number=version_number,
        check=failed,
        status=exc.status,
    )


@csp
@login_required
@require_http_methods(["GET", "POST"])
def skill_create_view(request: HttpRequest) -> HttpResponse:
    """A new skill from a SKILL.md template; it belongs to the user."""
    if request.method == "GET":
        return _editor(request, skill=None, text=NEW_SKILL_MD, version_number=None)
    text = _posted_text(request)
    check = skill_md_check(text=text, skill=None)
    if not check.ok:
        return _editor(
            request, skill=None, text=text, version_number=None, check=check, status=400
        )
    fields = check.fields or {}
    try:
        skill = skill_create(
            owner=request.user,
            origin=VersionOrigin.MANUAL,
            author=request.user,
            reason="Created in the browser editor",
            **fields,
        )
    except ApplicationError as exc:
        return _refused(
            request, exc, skill=None, text=text, version_number=None, check=check
        )
    renamed = (
        f" (the name {fields['name']} was taken)"
        if skill.name != fields["name"]
        else ""
    )
    messages.success(
        request, f"Created “{skill.name}”{renamed}, version {skill.version} (#1)."
    )
    return redirect("skill-detail", skill_id=skill.pk)


@csp
@login_required
@require_http_methods(["GET", "POST"])
@with_writable_skill
def skill_edit_view(request: HttpRequest, skill: Skill) -> HttpResponse:
    """Edit the SKILL.md with a live preview; saving is a new version."""
    if request.method == "GET":
        return _editor(
            request,
            skill=skill,
            text=current_skill_md(skill),
            version_number=skill.version_number,
        )
    text = _posted_text(request)
    raw_number = request.POST.get("version_number", "").strip()
    opened_at = int(raw_number) if raw_number.isdigit() else None
    if opened_at is None:
        failed = SkillMdCheck(
            None,
            [Problem(None, "The form lost its version number; reload the editor.")],
            text,
        )
        return _editor(
            request,
            skill=skill,
            text=text,
            version_number=skill.version_number,
            check=failed,
            status=400,
        )
    check = skill_md_check(text=text, skill=skill)
    if not check.ok:
        return _editor(
            request,
            skill=skill,
            text=text,
            version_number=opened_at,
            check=check,
            status=400,
        )
    if opened_at != skill.version_number:
        return _stale(request, skill=skill, text=text, opened_at=opened_at)
    return _save(request, skill=skill, text=text, opened_at=opened_at, check=check)


def _stale(
    request: HttpRequest, *, skill: Skill, text: str, opened_at: int
) -> HttpResponse:
    # The old number stays in the form, so saving again cannot overwrite silently.
    return _editor(
        request,
        skill=skill,
        text=text,
        version_number=opened_at,
        stale=skill.version_number,
        status=409,
    )


def _save(
    request: HttpRequest,
    *,
    skill: Skill,
    text: str,
    opened_at: int,
    check: SkillMdCheck,
) -> HttpResponse:
    fields = check.fields or {}
    try:
        updated = skill_update(
            skill_id=skill.pk,
            author=request.user,
            origin=VersionOrigin.MANUAL,
            reason="SKILL.md edited in the browser",
            expected_version_number=opened_at,
            # An edit that keeps the version string is still a new release.
            bump=fields["version"] == skill.version,
            **fields,
        )
    except ApplicationError as exc:
        if isinstance(exc, Conflict) and "current_version_number" in exc.extra:
            skill.version_number = exc.extra["current_version_number"]
            return _stale(request, skill=skill, text=text, opened_at=opened_at)
        return _refused(
            request, exc, skill=skill, text=text, version_number=opened_at, check=check
        )
    if updated.version_number == opened_at:
        messages.info(request, "No changes: the SKILL.md is the same as before.")
    else:
        messages.success(
            request,
            f"Saved as version {updated.version} (#{updated.version_number}).",
        )
    return redirect("skill-detail", skill_id=skill.pk)


@csp
@login_required
@require_POST
def skill_validate_view(request: HttpRequest) -> JsonResponse:
    """The editor's live check: `{"ok", "errors": [{"line", "message"}], "fields"}`."""
    skill = None
    raw_id = (request.POST.get("skill_id") or "").strip()
    if raw_id:
        try:
            skill = skill_or_404(request, raw_id)
        except Http404:
            return JsonResponse(
                {
                    "ok": False,
                    "errors": [{"line": None, "message": "No such skill."}],
                    "fields": {},
                },
                status=404,
            )
    check = skill_md_check(text=_posted_text(request), skill=skill)
    return JsonResponse(check.as_json())
