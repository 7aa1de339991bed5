"""Curator library work in the admin: libraries with skill counts, zip import/export,
and "Promote to library" on the skill list (a draft copy with provenance).

Writes go through services: `library_get_or_create`, `skill_promote_copy`, and the
REST API's checked upload import (`import_upload`), so an admin upload meets the
same archive checks (zip-slip, links, bombs, size) as any other.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from autoskill_site.exceptions import ApplicationError
from proxy.api.skills_common import PayloadTooLarge
from proxy.api.skills_upload import (
    SizeLimitedUploadHandler,
    UploadLimits,
    UploadOutcome,
    import_upload,
)
from skills.exporter import export_zip_spooled
from skills.importer import Target
from skills.models import Library, Skill, SkillStatus
from skills.services import library_get_or_create, skill_promote_copy

PROMOTE_PERMISSION = "skills.promote_skill"
ZIP = "application/zip"
# The multipart envelope around the file is allowed a little room, as in the API.
ENVELOPE_BYTES = 64 * 1024


class PromoteForm(forms.Form):
    library = forms.ModelChoiceField(
        queryset=Library.objects.order_by("slug"),
        empty_label=None,
        error_messages={"invalid_choice": "That library no longer exists."},
    )
    reason = forms.CharField(required=False, max_length=2000)


class LibraryImportForm(forms.Form):
    file = forms.FileField(
        label="File (.zip or SKILL.md)",
        error_messages={"required": "Choose a .zip archive or a SKILL.md to upload."},
    )
    overwrite = forms.BooleanField(
        required=False, label="Replace skills imported earlier from the same paths"
    )
    include_files = forms.BooleanField(
        required=False,
        initial=True,
        label="Import bundled scripts/, references/ and assets/ files",
    )


class SkillPromoteAdminMixin:
    """For SkillAdmin: the "Promote to library" action (needs skills.promote_skill)."""

    admin_site: admin.AdminSite
    opts: Any

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PROMOTE_PERMISSION)

    @admin.action(
        description="Promote to library (copy as draft)", permissions=["promote"]
    )
    def promote_to_library(
        self, request: HttpRequest, queryset: QuerySet[Skill]
    ) -> HttpResponse | None:
        """Pick a library, then copy each selected user skill into it as a draft."""
        skills = list(queryset.select_related("owner", "library").order_by("name"))
        if not Library.objects.exists():
            self.message_user(
                request,
                format_html(
                    'There is no library yet; <a href="{}">create one</a> first.',
                    reverse("admin:skills_library_add"),
                ),
                messages.ERROR,
            )
            return None
        form = PromoteForm(request.POST if "confirm" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Promote skills to a library",
                "opts": self.opts,
                "skills": skills,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/skills/promote.html", context)
        library = form.cleaned_data["library"]
        copied, failed = 0, []
        for skill in skills:
            try:
                skill_promote_copy(
                    skill_id=skill.pk,
                    library=library,
                    author=request.user,
                    reason=form.cleaned_data["reason"],
                )
                copied += 1
            except ApplicationError as exc:
                failed.append(f"{skill.name}: {exc.message}")
        if copied:
            self.message_user(
                request,
                format_html(
                    '{} skill(s) copied into <a href="{}">{}</a> as drafts; the '
                    "users' skills are unchanged.",
                    copied,
                    reverse("admin:skills_skill_changelist")
                    + f"?library__id__exact={library.pk}",
                    library.slug,
                ),
                messages.SUCCESS,
            )
        for problem in failed:
            self.message_user(request, f"Not promoted: {problem}", messages.ERROR)
        return None


class LibraryAdmin(admin.ModelAdmin):
    """Libraries with their skill counts; created through the service; zip in and out."""

    list_display = ("slug", "name", "skill_count", "active_count", "draft_count")
    search_fields = ("slug", "name")
    fields = ("slug", "name", "description", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")
    change_form_template = "admin/skills/library/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Library]:
        # One grouped query for the whole page: the counts are annotations.
        return (
            super()
            .get_queryset(request)
            .annotate(
                skill_total=Count("skills"),
                skill_active=Count(
                    "skills", filter=Q(skills__status=SkillStatus.ACTIVE)
                ),
                skill_draft=Count("skills", filter=Q(skills__status=SkillStatus.DRAFT)),
            )
        )

    @admin.display(description="skills", ordering="skill_total")
    def skill_count(self, obj: Library) -> int:
        return obj.skill_total

    @admin.display(description="active", ordering="skill_active")
    def active_count(self, obj: Library) -> int:
        return obj.skill_active

    @admin.display(description="drafts", ordering="skill_draft")
    def draft_count(self, obj: Library) -> int:
        return obj.skill_draft

    def get_readonly_fields(
        self, request: HttpRequest, obj: Library | None = None
    ) -> tuple[str, ...]:
        # The slug names the library's mirror folder and its skills' paths.
        if obj is not None:
            return ("slug", *self.readonly_fields)
        return tuple(self.readonly_fields)

    def save_model(
        self, request: HttpRequest, obj: Library, form: forms.Form, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)  # name and description
            return
        library = library_get_or_create(
            slug=obj.slug, name=obj.name, description=obj.description
        )
        # The admin logs and redirects with the object it built; make it the row.
        obj.pk, obj.created_at, obj.updated_at = (
            library.pk,
            library.created_at,
            library.updated_at,
        )
        obj._state.adding = False
        obj._state.db = library._state.db

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:library_id>/export/",
                wrap(self.export_view),
                name="skills_library_export",
            ),
            path(
                "<int:library_id>/import/",
                # CSRF is checked inside, once the size-limited upload handler is
                # installed (Django reads the body for the check).
                wrap(csrf_exempt(self.import_view)),
                name="skills_library_import",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest, library_id: int) -> HttpResponse:
        """The library's live skills (active and draft) as `<name>/SKILL.md` folders."""
        library = get_object_or_404(Library, pk=library_id)
        if not self.has_view_permission(request, library):
            raise PermissionDenied
        skills = Skill.objects.filter(library=library).exclude(
            status=SkillStatus.ARCHIVED
        )
        if not skills.exists():
            self.message_user(
                request,
                f"Library {library.slug} has no live skills to export.",
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:skills_library_change", args=[library.pk])
            )
        spool = export_zip_spooled(skills.order_by("name"), flat=True)
        return FileResponse(
            spool,
            as_attachment=True,
            filename=f"library-{library.slug}.zip",
            content_type=ZIP,
        )

    def import_view(self, request: HttpRequest, library_id: int) -> HttpResponse:
        """Upload a zip (or one SKILL.md) into the library and show the report."""
        library = get_object_or_404(Library, pk=library_id)
        if not self.has_change_permission(request, library):
            raise PermissionDenied
        if request.method == "POST":
            limits = UploadLimits.from_settings()
            raw = request.META.get("CONTENT_LENGTH") or "0"
            declared = int(raw) if raw.isdigit() else 0
            if declared > limits.upload_bytes + ENVELOPE_BYTES:
                return self._import_page(
                    request,
                    library,
                    error=f"Nothing imported: the upload is over the "
                    f"{limits.upload_bytes} byte limit.",
                    status=413,
                )
            request.upload_handlers.insert(
                0, SizeLimitedUploadHandler(request, limit=limits.upload_bytes)
            )
        try:
            return csrf_protect(self._import)(request, library)
        except PayloadTooLarge as exc:
            return self._import_page(
                request, library, error=f"Nothing imported: {exc.detail}", status=413
            )

    def _import(self, request: HttpRequest, library: Library) -> HttpResponse:
        if request.method != "POST":
            return self._import_page(request, library)
        form = LibraryImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._import_page(request, library, form=form, status=400)
        try:
            outcome = import_upload(
                upload=form.cleaned_data["file"],
                target=Target(library=library),
                overwrite=form.cleaned_data["overwrite"],
                include_files=form.cleaned_data["include_files"],
                limits=UploadLimits.from_settings(),
            )
        except ApplicationError as exc:
            return self._import_page(
                request,
                library,
                form=form,
                error=f"Nothing imported: {exc.message}",
                status=400,
            )
        report = _report(outcome)
        status = 400 if report["errors"] and not report["touched"] else 200
        return self._import_page(request, library, report=report, status=status)

    def _import_page(
        self,
        request: HttpRequest,
        library: Library,
        *,
        form: LibraryImportForm | None = None,
        error: str = "",
        report: dict[str, Any] | None = None,
        status: int = 200,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import skills into {library}",
            "opts": self.opts,
            "original": library,
            "form": form or LibraryImportForm(),
            "error": error,
            "report": report,
            "limits": UploadLimits.from_settings(),
        }
        return TemplateResponse(
            request, "admin/skills/library/import.html", context, status=status
        )


def _report(outcome: UploadOutcome) -> dict[str, Any]:
    """The importer's report with skill rows in place of bare ids."""
    report = outcome.report
    ids = [*report.created, *report.updated, *report.unchanged]
    rows = {str(s.pk): s for s in Skill.objects.filter(pk__in=ids).order_by("name")}

    def skills(group: list[str]) -> list[Skill]:
        return sorted((rows[i] for i in group if i in rows), key=lambda s: s.name)

    def issues(items: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [
            {
                "path": path,
                "message": message.replace(
                    "send overwrite=true", "tick “Replace skills imported earlier”"
                ),
            }
            for path, message in items
        ]

    return {
        "created": skills(report.created),
        "updated": skills(report.updated),
        "unchanged": skills(report.unchanged),
        "skipped": issues(report.skipped),
        "errors": issues(report.errors),
        "notes": issues([*outcome.notes, *report.notes]),
        "touched": len(ids),
    }
