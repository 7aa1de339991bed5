"""Browse-only admin for skills; edits go through services (curation comes later)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from skills.models import FileBlob, Library, Skill, SkillFile, SkillUsage, SkillVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: viewing is allowed, editing here would bypass versioning."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SkillVersionInline(admin.TabularInline):
    model = SkillVersion
    fields = ("number", "version", "origin", "author", "reason", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SkillFileInline(admin.TabularInline):
    model = SkillFile
    fields = ("path", "blob")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Skill)
class SkillAdmin(ReadOnlyAdmin):
    list_display = (
        "title",
        "name",
        "owner",
        "library",
        "version",
        "status",
        "updated_at",
    )
    list_filter = ("status", "library")
    search_fields = ("id", "name", "title", "description", "owner__username")
    list_select_related = ("owner", "library")
    inlines = [SkillFileInline, SkillVersionInline]
    date_hierarchy = "updated_at"


@admin.register(SkillVersion)
class SkillVersionAdmin(ReadOnlyAdmin):
    list_display = ("skill", "number", "version", "origin", "author", "created_at")
    list_filter = ("origin",)
    search_fields = ("skill__id", "name", "title")
    list_select_related = ("skill", "author")


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")


@admin.register(SkillUsage)
class SkillUsageAdmin(ReadOnlyAdmin):
    list_display = ("user", "skill", "retrieved", "relevant", "used", "last_used_at")
    list_select_related = ("user", "skill")


@admin.register(FileBlob)
class FileBlobAdmin(ReadOnlyAdmin):
    list_display = ("sha256", "size", "created_at")
    exclude = ("content",)


@admin.register(SkillFile)
class SkillFileAdmin(ReadOnlyAdmin):
    list_display = ("path", "skill", "blob")
    search_fields = ("path", "skill__name")
    list_select_related = ("skill", "blob")
