"""Usage counters per (user, skill): what retrieval found, what judges called relevant
and used, and when. Read-only; the one action archives the counted skills through
`skill_archive`, e.g. the stale ones the filter lists.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from skills.admin_filters import SkillStatusFilter, UsageStaleFilter, UsageUserFilter
from skills.admin_skills import set_status_many, skill_change_link
from skills.models import SkillStatus, SkillUsage

ARCHIVE_PERMISSION = "skills.change_skill"


@admin.register(SkillUsage)
class SkillUsageAdmin(admin.ModelAdmin):
    """Counters are written by retrieval only; curators read them and archive skills."""

    list_display = (
        "skill_link",
        "skill_status",
        "user",
        "retrieved",
        "relevant",
        "used",
        "judged",
        "last_used_at",
        "last_retrieved_at",
    )
    list_display_links = None
    list_filter = (
        SkillStatusFilter,
        UsageStaleFilter,
        UsageUserFilter,
        "last_judge",
        ("last_used_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("skill__name", "skill__title", "user__username")
    search_help_text = "Searches the skill's name and title, and the username."
    list_select_related = ("user", "skill")
    ordering = ("-retrieved", "pk")
    actions = ["archive_skills"]
    exclude = ("recent_queries",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_archive_permission(self, request: HttpRequest) -> bool:
        # Archiving changes the skill, not the counter row.
        return request.user.has_perm(ARCHIVE_PERMISSION)

    @admin.display(description="skill", ordering="skill__title")
    def skill_link(self, obj: SkillUsage) -> str:
        return skill_change_link(
            obj.skill, text=f"{obj.skill.title} ({obj.skill.name})"
        )

    @admin.display(description="skill status", ordering="skill__status")
    def skill_status(self, obj: SkillUsage) -> str:
        return obj.skill.get_status_display()

    @admin.action(
        description="Archive the skills of the selected rows", permissions=["archive"]
    )
    def archive_skills(self, request: HttpRequest, queryset: QuerySet) -> None:
        set_status_many(
            request,
            self,
            skill_ids=queryset.exclude(skill__status=SkillStatus.ARCHIVED).values_list(
                "skill_id", flat=True
            ),
            status=SkillStatus.ARCHIVED,
            verb="Archived",
            reason="Archived from the usage counters in the admin",
        )
