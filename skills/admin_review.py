"""The review queue: draft skills waiting for a curator, approved or rejected in bulk.

Drafts come from extraction (when AUTOSKILL_EXTRACTION_SKILL_STATUS is "draft") and
from every promotion into a library. Approving makes a draft active; rejecting
archives it (nothing is deleted). Both go through `skill_set_status`, so each is a
version recording who decided and why.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from skills.admin_filters import (
    OriginFilter,
    OwnerFilter,
    TagFilter,
    with_curation_columns,
)
from skills.admin_skills import (
    ADMIN_MEDIA_CSS,
    ADMIN_MEDIA_JS,
    SkillColumns,
    set_status_many,
    skill_change_link,
)
from skills.models import SkillDraft, SkillStatus, SkillVersion, VersionOrigin

ORIGIN_LABELS = dict(VersionOrigin.choices)


@admin.register(SkillDraft)
class SkillDraftAdmin(SkillColumns, admin.ModelAdmin):
    """The draft skills, oldest first; the page says how many wait, by origin."""

    list_display = (
        "title_link",
        "name",
        "owner",
        "library",
        "version_label",
        "current_origin_label",
        "confidence",
        "created_at",
        "updated_at",
    )
    list_display_links = None
    list_filter = (OwnerFilter, "library", TagFilter, OriginFilter)
    search_fields = ("name", "title", "description", "triggers")
    list_select_related = ("owner", "library")
    # The queue is worked through in arrival order.
    ordering = ("updated_at",)
    actions = ["approve_selected", "reject_selected"]

    class Media:
        js = ADMIN_MEDIA_JS
        css = ADMIN_MEDIA_CSS

    def get_queryset(self, request: HttpRequest) -> QuerySet[SkillDraft]:
        return with_curation_columns(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        # A draft is edited where every skill is; the queue is only the list.
        return HttpResponseRedirect(
            reverse("admin:skills_skill_change", args=[object_id])
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        context = {
            "title": "Review queue: approve or reject draft skills",
            **(extra_context or {}),
            "queue_counts": self.queue_counts(),
        }
        return super().changelist_view(request, extra_context=context)

    def queue_counts(self) -> dict[str, Any]:
        """Drafts waiting, by the origin of their latest version (one query)."""
        rows = (
            SkillVersion.objects.filter(
                skill__status=SkillStatus.DRAFT,
                skill__version_number=F("number"),
            )
            .order_by()
            .values("origin")
            .annotate(n=Count("pk"))
        )
        by_origin = sorted(
            (
                (ORIGIN_LABELS.get(row["origin"], row["origin"]), row["n"])
                for row in rows
            ),
            key=lambda item: -item[1],
        )
        return {"total": sum(n for _, n in by_origin), "by_origin": by_origin}

    @admin.display(description="title", ordering="title")
    def title_link(self, obj: SkillDraft) -> str:
        return skill_change_link(obj)

    @admin.action(
        description="Approve selected drafts (make them active)",
        permissions=["change"],
    )
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        set_status_many(
            request,
            self,
            skill_ids=queryset.values_list("pk", flat=True),
            status=SkillStatus.ACTIVE,
            verb="Approved",
            reason="Approved in the review queue",
        )

    @admin.action(
        description="Reject selected drafts (archive them)", permissions=["change"]
    )
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        set_status_many(
            request,
            self,
            skill_ids=queryset.values_list("pk", flat=True),
            status=SkillStatus.ARCHIVED,
            verb="Rejected",
            reason="Rejected in the review queue",
        )
