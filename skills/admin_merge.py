"""Curator merges in the admin: the "Merge selected skills" action and near-duplicates.

Both end in `skill_merge_many`; this module only parses the request, checks the
`skills.merge_skill` permission and reports the outcome as admin messages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from autoskill_site.exceptions import ApplicationError
from retrieval.duplicates import MAX_LIMIT, near_duplicate_pairs
from skills.models import Skill, SkillStatus
from skills.services import skill_merge_many
from skills.services.merging import skill_merge_check

MERGE_PERMISSION = "skills.merge_skill"
DEFAULT_PAIRS = 200
# One confirmation page lists every selected skill; "select all" on a big list
# would make it unreadable and one transaction very long.
MAX_MERGE = 50


class MergeForm(forms.Form):
    """The confirmation page's choices, limited to the selected skills."""

    survivor = forms.ChoiceField(
        error_messages={"required": "Choose the skill to keep."}
    )
    instructions_from = forms.ChoiceField(required=False)
    reason = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args: Any, skills: list[Skill], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(skill.pk), skill.name) for skill in skills]
        self.fields["survivor"].choices = choices
        self.fields["instructions_from"].choices = [("", "survivor"), *choices]


class NearDuplicatesForm(forms.Form):
    threshold = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        label="Similarity at least",
        help_text="0 to 1; cosine of the stored embeddings, or keyword overlap.",
    )
    limit = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, label="Pairs at most"
    )


class PairMergeForm(forms.Form):
    keep = forms.UUIDField()
    other = forms.UUIDField()
    threshold = forms.FloatField(required=False, min_value=0.0, max_value=1.0)
    limit = forms.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT)


def suggested_survivor(skills: list[Skill]) -> Skill:
    """The active one first, then the oldest: links to it have existed longest."""
    return min(skills, key=lambda s: (s.status != SkillStatus.ACTIVE, s.created_at))


class SkillMergeAdminMixin:
    """For SkillAdmin: the merge action, the near-duplicates page and its merge button."""

    admin_site: admin.AdminSite
    opts: Any

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MERGE_PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "near-duplicates/",
                wrap(self.near_duplicates_view),
                name="{}_{}_near_duplicates".format(*info),
            ),
            path(
                "near-duplicates/merge/",
                wrap(require_POST(self.merge_pair_view)),
                name="{}_{}_merge_pair".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Merge selected skills", permissions=["merge"])
    def merge_selected(
        self, request: HttpRequest, queryset: QuerySet[Skill]
    ) -> HttpResponse | None:
        """Ask which skill survives and whose instructions to keep, then merge."""
        skills = list(queryset.select_related("owner", "library").order_by("pk"))
        if not 2 <= len(skills) <= MAX_MERGE:
            self.message_user(
                request,
                f"Select between 2 and {MAX_MERGE} skills to merge "
                f"({len(skills)} selected).",
                messages.WARNING,
            )
            return None
        try:
            skill_merge_check(skills=skills)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        if "confirm" not in request.POST:
            return self._merge_page(request, skills, MergeForm(skills=skills))
        form = MergeForm(request.POST, skills=skills)
        if not form.is_valid():
            return self._merge_page(request, skills, form)
        survivor_id = form.cleaned_data["survivor"]
        others = [skill.pk for skill in skills if str(skill.pk) != survivor_id]
        try:
            survivor = skill_merge_many(
                survivor_id=survivor_id,
                other_ids=others,
                instructions_from=form.cleaned_data["instructions_from"] or None,
                author=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            self.message_user(
                request, f"Nothing was merged: {exc.message}", messages.ERROR
            )
            return None
        self.message_user(
            request, _merged_message(survivor, len(others)), messages.SUCCESS
        )
        return HttpResponseRedirect(
            reverse("admin:skills_skill_change", args=[survivor.pk])
        )

    def _merge_page(
        self, request: HttpRequest, skills: list[Skill], form: MergeForm
    ) -> TemplateResponse:
        keep = form["survivor"].value() or str(suggested_survivor(skills).pk)
        instructions = form["instructions_from"].value() or ""
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge skills",
            "opts": self.opts,
            "rows": [
                {
                    "skill": skill,
                    "keep": str(skill.pk) == keep,
                    "instructions": str(skill.pk) == instructions,
                }
                for skill in skills
            ],
            "form": form,
            "survivor_instructions": not instructions,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "near_duplicates_url": reverse("admin:skills_skill_near_duplicates"),
        }
        return TemplateResponse(request, "admin/skills/merge.html", context)

    def near_duplicates_view(self, request: HttpRequest) -> HttpResponse:
        """Same-scope pairs above the threshold, each with a one-click merge."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = NearDuplicatesForm(request.GET or None)
        report, error, status = None, "", 200
        threshold, limit = _search_args(form)
        if form.is_bound and not form.is_valid():
            status = 400
        else:
            try:
                report = near_duplicate_pairs(threshold=threshold, limit=limit)
            except ApplicationError as exc:
                error, status = exc.message, 400
        context = {
            **self.admin_site.each_context(request),
            "title": "Near-duplicate skills",
            "opts": self.opts,
            "form": form,
            "report": report,
            "error": error,
            "threshold": threshold,
            "limit": limit,
            "can_merge": self.has_merge_permission(request),
        }
        return TemplateResponse(
            request, "admin/skills/near_duplicates.html", context, status=status
        )

    def merge_pair_view(self, request: HttpRequest) -> HttpResponse:
        """POST keep + other: merge one near-duplicate pair, then back to the list."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        form = PairMergeForm(request.POST)
        if not form.is_valid():
            self.message_user(
                request,
                "Nothing was merged: the pair was not understood; reload the page.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:skills_skill_near_duplicates"))
        data = form.cleaned_data
        back = reverse("admin:skills_skill_near_duplicates")
        query = {k: data[k] for k in ("threshold", "limit") if data[k] is not None}
        if query:
            back = f"{back}?{urlencode(query)}"
        try:
            survivor = skill_merge_many(
                survivor_id=data["keep"],
                other_ids=[data["other"]],
                author=request.user,
                reason="Near-duplicate merged from the admin",
            )
        except ApplicationError as exc:
            self.message_user(
                request, f"Nothing was merged: {exc.message}", messages.ERROR
            )
            return HttpResponseRedirect(back)
        self.message_user(request, _merged_message(survivor, 1), messages.SUCCESS)
        return HttpResponseRedirect(back)


def _search_args(form: NearDuplicatesForm) -> tuple[float, int]:
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    threshold = data.get("threshold")
    if threshold is None:
        threshold = float(settings.AUTOSKILL_DEDUPE_THRESHOLD)
    return threshold, data.get("limit") or DEFAULT_PAIRS


def _merged_message(survivor: Skill, merged: int) -> str:
    url = reverse("admin:skills_skill_change", args=[survivor.pk])
    return format_html(
        'Merged {} skill(s) into <a href="{}">{}</a> (now v{}); '
        "the merged skills are archived and point to it.",
        merged,
        url,
        survivor.name,
        survivor.version,
    )
