"""The import page: upload a .zip of skill folders or one SKILL.md.

The upload goes through the API's `import_upload`, so the page has the same limits
and the same archive checks (zip-slip, links, bombs, size) before anything is
unpacked. The size limit is enforced while the body streams in, which needs an
upload handler installed before the body is read, and Django reads it for the CSRF
check; so the view is CSRF-exempt on the outside and CSRF-protected inside (the
pattern Django documents for custom upload handlers).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from autoskill_site.exceptions import ApplicationError
from proxy.api.skills_common import PayloadTooLarge
from proxy.api.skills_upload import (
    SizeLimitedUploadHandler,
    UploadLimits,
    UploadOutcome,
    import_upload,
)
from proxy.pages import csp
from skills.importer import Target
from skills.models import Library, Skill

# The multipart envelope around the file is allowed a little room, as in the API.
ENVELOPE_BYTES = 64 * 1024


class SkillImportForm(forms.Form):
    """The upload and its options; the target library is offered to staff only."""

    file = forms.FileField(
        label="File (.zip or SKILL.md)",
        error_messages={"required": "Choose a .zip archive or a SKILL.md to upload."},
    )
    overwrite = forms.BooleanField(
        required=False,
        label="Replace skills imported earlier from the same paths",
    )
    include_files = forms.BooleanField(
        required=False,
        initial=True,
        label="Import bundled scripts/, references/ and assets/ files",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user.is_staff:
            libraries = Library.objects.order_by("slug").values_list("slug", "name")
            self.fields["library"] = forms.ChoiceField(
                required=False,
                label="Import into",
                choices=[
                    ("", "My own skills"),
                    *((slug, f"Library: {name or slug}") for slug, name in libraries),
                ],
            )

    def target(self, user: Any) -> Target:
        slug = self.cleaned_data.get("library")
        if slug:
            return Target(library=Library.objects.get(slug=slug))
        return Target(owner=user)


def _page(
    request: HttpRequest,
    *,
    form: SkillImportForm | None = None,
    error: str | None = None,
    report: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form or SkillImportForm(user=request.user),
        "error": error,
        "report": report,
        "limits": UploadLimits.from_settings(),
    }
    return render(request, "skills/import.html", context, status=status)


def _declared_too_large(request: HttpRequest, limits: UploadLimits) -> str | None:
    raw = request.META.get("CONTENT_LENGTH") or "0"
    length = int(raw) if raw.isdigit() else 0
    if length > limits.upload_bytes + ENVELOPE_BYTES:
        return f"The upload is {length} bytes; the limit is {limits.upload_bytes}."
    return None


@csp
@login_required
@require_http_methods(["GET", "POST"])
@csrf_exempt
def skill_import_view(request: HttpRequest) -> HttpResponse:
    """Show the upload form, or import an upload and show what happened."""
    if request.method == "POST":
        limits = UploadLimits.from_settings()
        too_large = _declared_too_large(request, limits)
        if too_large:
            return _page(request, error=f"Nothing imported: {too_large}", status=413)
        request.upload_handlers.insert(
            0, SizeLimitedUploadHandler(request, limit=limits.upload_bytes)
        )
    try:
        return _import(request)
    except PayloadTooLarge as exc:
        return _page(request, error=f"Nothing imported: {exc.detail}", status=413)


@csrf_protect
def _import(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    form = SkillImportForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        outcome = import_upload(
            upload=form.cleaned_data["file"],
            target=form.target(request.user),
            overwrite=form.cleaned_data["overwrite"],
            include_files=form.cleaned_data["include_files"],
            limits=UploadLimits.from_settings(),
        )
    except ApplicationError as exc:
        return _page(
            request, form=form, error=f"Nothing imported: {exc.message}", status=400
        )
    report = _report(outcome)
    if not report["touched"] and report["errors"]:
        first = report["errors"][0]
        message = f"Nothing imported: {first['path']}: {first['message']}"
        return _page(request, form=form, error=message, report=report, status=400)
    return _page(request, report=report)


def _issues(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "path": path,
            "message": message.replace(
                "send overwrite=true", "tick “Replace skills imported earlier”"
            ),
        }
        for path, message in items
    ]


def _report(outcome: UploadOutcome) -> dict[str, Any]:
    """The importer's report with skill rows in place of bare ids."""
    report = outcome.report
    ids = [*report.created, *report.updated, *report.unchanged]
    rows = {
        str(skill.pk): skill
        for skill in Skill.objects.filter(pk__in=ids).select_related("library")
    }

    def skills(group: list[str]) -> list[Skill]:
        return sorted(
            (rows[i] for i in group if i in rows), key=lambda skill: skill.name
        )

    return {
        "created": skills(report.created),
        "updated": skills(report.updated),
        "unchanged": skills(report.unchanged),
        "skipped": _issues(report.skipped),
        "errors": _issues(report.errors),
        "notes": _issues([*outcome.notes, *report.notes]),
        "touched": len(ids),
    }
