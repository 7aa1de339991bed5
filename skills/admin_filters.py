"""Changelist filters and annotations shared by the skill, review-queue and usage admins.

Owner and tag are typed, not picked from a list: a list would load every user (or
every skill's tags) into memory on a big install, on every changelist request.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR
from django.db.models import (
    Exists,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from retrieval.usage import usage_stale_q
from skills.models import SkillStatus, SkillUsage, SkillVersion, VersionOrigin
from skills.selectors import _has_tag

COUNTERS = ("retrieved", "relevant", "used")


def with_curation_columns(queryset: QuerySet) -> QuerySet:
    """Usage totals and the current version's origin, as subqueries (no per-row query)."""
    annotations: dict[str, Any] = {
        f"{name}_total": Coalesce(
            Subquery(
                SkillUsage.objects.filter(skill=OuterRef("pk"))
                .order_by()
                .values("skill")
                .annotate(total=Sum(name))
                .values("total"),
                output_field=IntegerField(),
            ),
            Value(0),
        )
        for name in COUNTERS
    }
    annotations["current_origin"] = Subquery(
        SkillVersion.objects.filter(
            skill=OuterRef("pk"), number=OuterRef("version_number")
        ).values("origin")[:1]
    )
    return queryset.annotate(**annotations)


def stale_skills(queryset: QuerySet, *, field: str = "") -> QuerySet:
    """Rows whose skill the usage pruning would archive (retrieval.usage's rule).

    `field` is the path to the skill ("" for Skill rows, "skill" for usage rows).
    None of them are stale while pruning is switched off.
    """
    stale = usage_stale_q()
    if stale is None:
        return queryset.none()
    prefix = f"{field}__" if field else ""
    skill_ref = OuterRef(field or "pk")
    owner_ref = OuterRef(f"{prefix}owner")
    return queryset.filter(
        Exists(SkillUsage.objects.filter(stale, skill=skill_ref, user=owner_ref)),
        **{f"{prefix}status": SkillStatus.ACTIVE},
    )


class TextInputFilter(admin.SimpleListFilter):
    """A filter with a text box instead of a list of links."""

    template = "admin/skills/filters/text_input.html"
    placeholder = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # SimpleListFilter hides filters without choices; the box is the one choice.
        return [("", "")]

    def value(self) -> str | None:
        raw = (super().value() or "").strip()
        return raw or None

    def get_facet_counts(self, pk_attname: str, filtered_qs: QuerySet) -> dict:
        return {}

    def choices(self, changelist: Any):  # noqa: ANN201 - a generator of dicts
        keep = {
            key: value
            for key, value in changelist.params.items()
            if key not in (self.parameter_name, PAGE_VAR)
        }
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(
                remove=[self.parameter_name, PAGE_VAR]
            ),
            "display": "All",
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "placeholder": self.placeholder,
            "keep": sorted(keep.items()),
        }


class OwnerFilter(TextInputFilter):
    """Skills (or usage rows) of one user, by exact username (case ignored)."""

    title = "owner (username)"
    parameter_name = "owner"
    placeholder = "username"
    lookup = "owner__username__iexact"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.lookup: value}) if value else queryset


class UsageUserFilter(OwnerFilter):
    title = "user (username)"
    parameter_name = "user"
    lookup = "user__username__iexact"


class TagFilter(TextInputFilter):
    """Skills carrying a tag (exact, case ignored), as the skill list's tag filter."""

    title = "tag"
    parameter_name = "tag"
    placeholder = "tag"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(_has_tag(value)) if value else queryset


class OriginFilter(admin.SimpleListFilter):
    """How the current version came about (extraction, manual edit, merge, ...)."""

    title = "origin of last change"
    parameter_name = "origin"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(VersionOrigin.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value not in VersionOrigin.values:
            return queryset
        return queryset.filter(
            Exists(
                SkillVersion.objects.filter(
                    skill=OuterRef("pk"),
                    number=OuterRef("version_number"),
                    origin=value,
                )
            )
        )


class StaleFilter(admin.SimpleListFilter):
    """Active skills that pruning would archive: judged often, (almost) never used."""

    title = "stale"
    parameter_name = "stale"
    skill_field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Stale"), ("no", "Not stale")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value not in ("yes", "no"):
            return queryset
        stale = stale_skills(queryset, field=self.skill_field)
        if value == "yes":
            return stale
        return queryset.exclude(pk__in=stale.values("pk"))


class UsageStaleFilter(StaleFilter):
    skill_field = "skill"


class SkillStatusFilter(admin.SimpleListFilter):
    """The status of the skill a usage row counts."""

    title = "skill status"
    parameter_name = "skill_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(SkillStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value not in SkillStatus.values:
            return queryset
        return queryset.filter(skill__status=value)
