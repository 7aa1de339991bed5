"""GET /skills/<id>/versions (history with diffs) and POST /skills/<id>/rollback."""

from __future__ import annotations

from django.db import transaction
from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from autoskill_site.exceptions import Conflict
from proxy.api.pagination import PAGINATION_PARAMETERS, list_envelope, paginate
from proxy.api.skills import SKILL_ID_PARAMETER, detail_payload
from proxy.api.skills_common import (
    IF_MATCH,
    JSON,
    SkillApiView,
    check_if_match,
    current_skill_md,
    error_responses,
    etag_of,
    skill_for_read,
    skill_for_write,
)
from proxy.api.skills_serializers import (
    RollbackInputSerializer,
    RollbackResultSerializer,
    SkillVersionSerializer,
)
from skills.models import SkillVersion
from skills.services import skill_rollback


class SkillVersionsApi(SkillApiView):
    """Every stored version, newest first, each with its SKILL.md and a diff."""

    @extend_schema(
        operation_id="skills_versions_list",
        summary="List a skill's versions",
        parameters=[SKILL_ID_PARAMETER, *PAGINATION_PARAMETERS],
        responses={
            (200, JSON): list_envelope(SkillVersionSerializer, name="SkillVersionPage"),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request: Request, skill_id: str) -> Response:
        skill = skill_for_read(request.user, skill_id)
        earlier = SkillVersion.objects.filter(
            skill_id=OuterRef("skill_id"), number__lt=OuterRef("number")
        ).order_by("-number")
        # The previous version's text comes in the same query, so a page of diffs
        # costs one query, not one per version.
        versions = (
            SkillVersion.objects.filter(skill_id=skill.pk)
            .select_related("author")
            .annotate(
                previous_md=Subquery(earlier.values("skill_md")[:1]),
                previous_number=Subquery(earlier.values("number")[:1]),
            )
        )
        context = {"current_number": skill.version_number}
        return paginate(
            request,
            versions,
            serialize=lambda v: SkillVersionSerializer(v, context=context).data,
            order=("-number",),
        )


class SkillRollbackApi(SkillApiView):
    """Restore an earlier version as a new version; history is never rewritten."""

    @extend_schema(
        operation_id="skills_rollback",
        summary="Roll a skill back to any earlier version",
        parameters=[SKILL_ID_PARAMETER, IF_MATCH],
        request=RollbackInputSerializer,
        responses={
            (200, JSON): RollbackResultSerializer,
            **error_responses(400, 401, 403, 404, 409, 412, 415),
        },
    )
    def post(self, request: Request, skill_id: str) -> Response:
        body = RollbackInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        args = body.validated_data
        with transaction.atomic():
            skill = skill_for_write(request.user, skill_id)
            check_if_match(request, skill)
            expected = args.get("version_number")
            if expected is not None and expected != skill.version_number:
                raise Conflict(
                    f"The skill is at version #{skill.version_number}, not #{expected}; "
                    "reload before rolling back."
                )
            target = (
                SkillVersion.objects.filter(skill_id=skill.pk, number=args["to_number"])
                .only("number", "version")
                .first()
            )
            before = skill.version_number
            updated = skill_rollback(
                skill_id=skill.pk,
                to_number=args["to_number"],
                author=request.user,
                reason=args.get("reason", ""),
            )
        payload = detail_payload(
            updated, user=request.user, skill_md=current_skill_md(updated)
        )
        payload["changed"] = updated.version_number != before
        # skill_rollback answered 404 already if the version did not exist.
        payload["restored_from"] = {"number": target.number, "version": target.version}
        return Response(payload, headers={"ETag": etag_of(updated)})
