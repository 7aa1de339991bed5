"""Version history on the skill admin: the history table, a diff of any two versions,
and "roll back to this version" (a new version through `skill_rollback`).

The views are plain admin views added by `SkillAdmin.get_urls` and wrapped in
`admin_site.admin_view`, so they share the admin's login, staff check and CSRF.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from autoskill_site.exceptions import ApplicationError
from skills.models import Skill, SkillVersion
from skills.selectors import DiffLine, diff_lines, unified_diff
from skills.services import skill_rollback

HISTORY_ROWS = 50


def version_diff(before: SkillVersion, after: SkillVersion) -> list[DiffLine]:
    return diff_lines(
        unified_diff(
            before=before.skill_md,
            after=after.skill_md,
            before_label=f"#{before.number} v{before.version} ({before.origin})",
            after_label=f"#{after.number} v{after.version} ({after.origin})",
        )
    )


class RollbackForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        help_text="Recorded on the new version; left empty, it names the version restored.",
    )


def _version_number(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


class SkillVersionViews:
    """Mixed into SkillAdmin: the history table context and the diff/rollback views."""

    def version_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="{}_{}_diff".format(*info),
            ),
            path(
                "<path:object_id>/rollback/<int:number>/",
                self.admin_site.admin_view(self.rollback_view),
                name="{}_{}_rollback".format(*info),
            ),
        ]

    def get_urls(self) -> list[Any]:
        return [*self.version_urls(), *super().get_urls()]

    def version_history(self, request: HttpRequest, skill: Skill) -> dict[str, Any]:
        """The newest versions for the change page, in one query (authors joined)."""
        rows = list(
            SkillVersion.objects.filter(skill=skill)
            .select_related("author")
            .only(
                "number",
                "version",
                "origin",
                "status",
                "reason",
                "created_at",
                "author__username",
            )
            .order_by("-number")[:HISTORY_ROWS]
        )
        return {
            "versions": rows,
            "versions_total": skill.version_number,
            "versions_truncated": skill.version_number > len(rows),
            "can_roll_back": self.has_change_permission(request, skill),
        }

    def _skill_or_404(self, request: HttpRequest, object_id: str) -> Skill:
        skill = self.get_object(request, object_id)
        if skill is None:
            raise Http404(f"No skill with id {object_id!r}.")
        return skill

    def diff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Any two versions side by side as a coloured unified diff (?a=1&b=3)."""
        skill = self._skill_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, skill):
            raise PermissionDenied
        choices = list(
            SkillVersion.objects.filter(skill=skill)
            .order_by("-number")
            .values_list("number", "version", "origin", "created_at")
        )
        numbers = {row[0] for row in choices}
        latest = skill.version_number
        errors = []
        a, b = (
            _version_number(request.GET.get("a")),
            _version_number(request.GET.get("b")),
        )
        for key, value in (("a", a), ("b", b)):
            raw = request.GET.get(key)
            if raw is not None and raw.strip() and value not in numbers:
                errors.append(
                    f"Version “{raw.strip()[:20]}” ({key}) does not exist; this skill "
                    f"has versions #1 to #{latest}."
                )
        if errors:
            a = b = None
        b = b or latest
        a = a or max(1, b - 1)
        pair = {
            v.number: v
            for v in SkillVersion.objects.filter(skill=skill, number__in=(a, b))
        }
        lines = version_diff(pair[a], pair[b]) if a in pair and b in pair else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Compare versions of {skill.name}",
            "skill": skill,
            "choices": choices,
            "a": a,
            "b": b,
            "before": pair.get(a),
            "after": pair.get(b),
            "lines": lines,
            "errors": errors,
            "media": self.media,
        }
        return TemplateResponse(
            request,
            "admin/skills/skill/diff.html",
            context,
            status=400 if errors else 200,
        )

    def rollback_view(
        self, request: HttpRequest, object_id: str, number: int
    ) -> HttpResponse:
        """GET: what rolling back would change; POST: do it (a new version)."""
        skill = self._skill_or_404(request, object_id)
        if not self.has_change_permission(request, skill):
            raise PermissionDenied
        change_url = reverse(
            f"{self.admin_site.name}:skills_skill_change", args=[skill.pk]
        )
        target = SkillVersion.objects.filter(skill=skill, number=number).first()
        if target is None:
            self.message_user(
                request,
                f"{skill.name} has no version #{number}; nothing was rolled back.",
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        form = RollbackForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            return self._roll_back(
                request, skill=skill, target=target, form=form, change_url=change_url
            )
        current = SkillVersion.objects.filter(
            skill=skill, number=skill.version_number
        ).first()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Roll back {skill.name} to version #{number}?",
            "skill": skill,
            "target": target,
            "current": current,
            "form": form,
            "lines": version_diff(current, target) if current else [],
            "change_url": change_url,
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/skills/skill/rollback_confirm.html", context
        )

    def _roll_back(
        self,
        request: HttpRequest,
        *,
        skill: Skill,
        target: SkillVersion,
        form: RollbackForm,
        change_url: str,
    ) -> HttpResponse:
        before = skill.version_number
        try:
            updated = skill_rollback(
                skill_id=skill.pk,
                to_number=target.number,
                author=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            self.message_user(
                request, f"Could not roll back: {exc.message}", messages.ERROR
            )
            return HttpResponseRedirect(change_url)
        if updated.version_number == before:
            self.message_user(
                request,
                f"Version #{target.number} has the same content as the current "
                "version; nothing changed.",
                messages.INFO,
            )
        else:
            self.log_change(
                request, updated, f"Rolled back to version #{target.number}."
            )
            self.message_user(
                request,
                f"Rolled back {updated.name} to #{target.number}: saved as version "
                f"{updated.version} (#{updated.version_number}).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(change_url)
