"""The skill admin's columns, change form and bulk actions; every write is a service call.

`SkillAdmin` (skills/admin.py) is assembled from the mixins here and in
admin_versions.py, so each concern stays small and other curation features can add
their own actions and URLs beside these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from autoskill_site.exceptions import ApplicationError
from skills.admin_forms import SkillAddForm, SkillChangeForm
from skills.admin_versions import SkillVersionViews
from skills.models import Skill, SkillStatus, VersionOrigin
from skills.selectors import current_skill_md
from skills.services import skill_archive, skill_set_status
from skills.skillmd import SkillMdError
from skills.skillmd_yaml import split_frontmatter

ADMIN_MEDIA_JS = ("js/errors.js", "js/markdown.js", "js/admin_skills.js")
ADMIN_MEDIA_CSS = {"all": ("css/admin_skills.css",)}
ORIGIN_LABELS = dict(VersionOrigin.choices)


def skill_change_link(skill: Skill, *, text: str | None = None) -> str:
    url = reverse("admin:skills_skill_change", args=[skill.pk])
    return format_html('<a href="{}">{}</a>', url, text or skill.title)


def set_status_many(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    *,
    skill_ids: Iterable[Any],
    status: str,
    verb: str,
    reason: str,
) -> None:
    """Change the status of each skill through the service, then say what happened.

    One transaction per skill, in id order: one failure (e.g. a conflicting live
    skill) is reported and does not undo the others.
    """
    done, failed = [], []
    for skill_id in sorted(set(skill_ids), key=str):
        try:
            if status == SkillStatus.ARCHIVED:
                skill = skill_archive(
                    skill_id=skill_id, author=request.user, reason=reason
                )
            else:
                skill = skill_set_status(
                    skill_id=skill_id, status=status, author=request.user, reason=reason
                )
        except ApplicationError as exc:
            failed.append(exc.message)
            continue
        done.append(skill.name)
    if done:
        modeladmin.message_user(
            request,
            f"{verb} {len(done)} skill(s): {', '.join(sorted(done))}.",
            messages.SUCCESS,
        )
    for message in failed:
        modeladmin.message_user(
            request, f"Not {verb.lower()}: {message}", messages.ERROR
        )
    if not done and not failed:
        modeladmin.message_user(request, "Nothing to change.", messages.INFO)


class SkillColumns:
    """Changelist columns over the annotations of `admin_filters.with_curation_columns`."""

    @admin.display(description="version", ordering="version_number")
    def version_label(self, obj: Skill) -> str:
        return f"{obj.version} (#{obj.version_number})"

    @admin.display(description="retrieved", ordering="retrieved_total")
    def retrieved_total(self, obj: Skill) -> int:
        return getattr(obj, "retrieved_total", 0)

    @admin.display(description="relevant", ordering="relevant_total")
    def relevant_total(self, obj: Skill) -> int:
        return getattr(obj, "relevant_total", 0)

    @admin.display(description="used", ordering="used_total")
    def used_total(self, obj: Skill) -> int:
        return getattr(obj, "used_total", 0)

    @admin.display(description="last change", ordering="current_origin")
    def current_origin_label(self, obj: Skill) -> str:
        origin = getattr(obj, "current_origin", None)
        return ORIGIN_LABELS.get(origin, origin or "-")


class SkillEditing(SkillVersionViews, SkillColumns):
    """The change form: SKILL.md text saved through skill_update / skill_create."""

    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "owner_username",
                    "target_library",
                    "new_status",
                    "skill_md",
                    "reason",
                )
            },
        ),
    )
    change_fieldsets = (
        (
            "Skill",
            {
                "fields": (
                    "id",
                    ("owner", "library"),
                    ("name", "version_label"),
                    "title",
                    "description",
                    ("tags", "triggers"),
                    ("current_origin_label", "confidence"),
                    "usage_summary",
                    ("created_at", "updated_at"),
                )
            },
        ),
        ("Preview", {"fields": ("preview",)}),
        (
            "Edit",
            {
                "fields": ("new_status", "skill_md", "reason", "version_number"),
                "description": (
                    "Saving writes a new version authored by you; an edit made "
                    "meanwhile elsewhere is never overwritten."
                ),
            },
        ),
        ("Provenance", {"fields": ("provenance",), "classes": ("collapse",)}),
    )
    change_readonly_fields = (
        "id",
        "owner",
        "library",
        "name",
        "version_label",
        "current_origin_label",
        "title",
        "description",
        "tags",
        "triggers",
        "usage_summary",
        "confidence",
        "created_at",
        "updated_at",
        "preview",
        "provenance",
    )

    class Media:
        js = ADMIN_MEDIA_JS
        css = ADMIN_MEDIA_CSS

    def get_fieldsets(self, request: HttpRequest, obj: Skill | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        if self.has_change_permission(request, obj):
            return self.change_fieldsets
        # View-only curators get the text as text: the form fields do not exist.
        return tuple(
            ("SKILL.md", {"fields": ("skill_md_text",)})
            if entry[0] == "Edit"
            else entry
            for entry in self.change_fieldsets
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Skill | None = None
    ) -> Any:
        if obj is None:
            return ()
        return (*self.change_readonly_fields, "skill_md_text")

    def get_form(
        self,
        request: HttpRequest,
        obj: Skill | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> Any:
        kwargs["form"] = SkillChangeForm if obj else SkillAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        # get_form builds a new class per request, so this is the request's user.
        form.author = request.user
        return form

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Skill:
        # The form already saved through the service while validating.
        return form.saved

    def save_model(
        self, request: HttpRequest, obj: Skill, form: Any, change: bool
    ) -> None:
        if not change:
            renamed = getattr(form, "requested_name", "")
            if renamed and renamed != obj.name:
                self.message_user(
                    request,
                    f"The name {renamed} was taken; the skill is {obj.name}.",
                    messages.WARNING,
                )
            return
        before = form.cleaned_data["version_number"]
        if obj.version_number == before:
            self.message_user(
                request, "No changes: nothing new was saved.", messages.INFO
            )
        else:
            self.message_user(
                request,
                f"Saved as version {obj.version} (#{obj.version_number}).",
                messages.SUCCESS,
            )

    def save_related(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> None:
        """Nothing: the skill has no editable relations here, and form.save() never ran."""

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Skill | None = None,
    ) -> Any:
        if obj is not None:
            context.update(self.version_history(request, obj))
            context["skill_files"] = list(
                obj.files.order_by("path").values_list("path", "blob__size")
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="usage (retrieved / relevant / used)")
    def usage_summary(self, obj: Skill) -> str:
        return (
            f"{getattr(obj, 'retrieved_total', 0)} / "
            f"{getattr(obj, 'relevant_total', 0)} / {getattr(obj, 'used_total', 0)}"
        )

    @admin.display(description="rendered SKILL.md")
    def preview(self, obj: Skill) -> str:
        try:
            _, body = split_frontmatter(current_skill_md(obj))
        except (ApplicationError, SkillMdError):
            body = obj.instructions
        # The raw Markdown, escaped here; admin_skills.js renders it with the
        # escaping renderer of markdown.js. Without JavaScript the text stays.
        return format_html(
            '<p id="skill-md-preview-status" class="help" role="status" '
            'aria-live="polite">The saved version.</p>'
            '<div id="skill-md-preview" class="skill-md-preview" data-markdown>{}</div>',
            body,
        )

    @admin.display(description="SKILL.md")
    def skill_md_text(self, obj: Skill) -> str:
        return format_html('<pre class="skill-md-text">{}</pre>', current_skill_md(obj))

    @admin.action(description="Archive selected skills", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        set_status_many(
            request,
            self,
            skill_ids=queryset.exclude(status=SkillStatus.ARCHIVED).values_list(
                "pk", flat=True
            ),
            status=SkillStatus.ARCHIVED,
            verb="Archived",
            reason="Archived in the admin",
        )
