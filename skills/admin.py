"""The curators' skill admin. Admin classes only translate: every write is a service call.

The pieces live beside this module: admin_skills (columns, SKILL.md change form,
archive action), admin_versions (history, diff, rollback), admin_filters, and the
review queue (admin_review) and usage counters (admin_usage).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from skills import admin_review, admin_usage  # noqa: F401 - they register themselves
from skills.admin_filters import (
    OriginFilter,
    OwnerFilter,
    StaleFilter,
    TagFilter,
    with_curation_columns,
)
from skills.admin_libraries import LibraryAdmin, SkillPromoteAdminMixin
from skills.admin_merge import SkillMergeAdminMixin
from skills.admin_skills import SkillEditing
from skills.models import FileBlob, Library, Skill, SkillFile, SkillVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: viewing is allowed, editing here would bypass versioning."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Skill)
class SkillAdmin(
    SkillMergeAdminMixin, SkillPromoteAdminMixin, SkillEditing, admin.ModelAdmin
):
    """Browse, filter, edit (a new version per save), roll back and archive skills."""

    list_display = (
        "title",
        "name",
        "owner",
        "library",
        "status",
        "version_label",
        "retrieved_total",
        "relevant_total",
        "used_total",
        "current_origin_label",
        "updated_at",
    )
    list_filter = (
        "status",
        OwnerFilter,
        "library",
        TagFilter,
        OriginFilter,
        StaleFilter,
    )
    search_fields = ("name", "title", "description", "triggers")
    search_help_text = "Searches name, title, description and triggers."
    list_select_related = ("owner", "library")
    date_hierarchy = "updated_at"
    # Other curation features append their actions here (merge, promote).
    actions = ["archive_selected", "merge_selected", "promote_to_library"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Skill]:
        return with_curation_columns(super().get_queryset(request))

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Archiving keeps the history; deleting is the owner's decision (skill pages).
        return False


@admin.register(SkillVersion)
class SkillVersionAdmin(ReadOnlyAdmin):
    list_display = ("skill", "number", "version", "origin", "author", "created_at")
    list_filter = ("origin",)
    search_fields = ("skill__id", "name", "title")
    list_select_related = ("skill", "author")


admin.site.register(Library, LibraryAdmin)


@admin.register(FileBlob)
class FileBlobAdmin(ReadOnlyAdmin):
    list_display = ("sha256", "size", "created_at")
    exclude = ("content",)


@admin.register(SkillFile)
class SkillFileAdmin(ReadOnlyAdmin):
    list_display = ("path", "skill", "blob")
    search_fields = ("path", "skill__name")
    list_select_related = ("skill", "blob")
