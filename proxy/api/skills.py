"""GET /skills (list with filters), GET and DELETE /skills/<id>."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from proxy.api.pagination import PAGINATION_PARAMETERS, list_envelope, paginate
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
    SkillDeletedSerializer,
    SkillDetailSerializer,
    SkillEnvelopeSerializer,
    SkillListQuerySerializer,
    SkillSummarySerializer,
)
from retrieval.search import SCOPE_ALIASES
from skills import selectors
from skills.models import Skill
from skills.services import skill_delete

TRUE_WORDS = {"1", "true", "yes", "on"}
SKILL_ID_PARAMETER = OpenApiParameter(
    "skill_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Skill id."
)


def skill_list_queryset(*, user: Any, filters: dict[str, Any]) -> QuerySet[Skill]:
    """The caller's view of the skills, narrowed by the list filters.

    The API also accepts the original's scope aliases (common, shared, ...), which
    the selector does not know.
    """
    scope = filters.get("scope")
    if scope:
        filters = {**filters, "scope": SCOPE_ALIASES.get(scope, scope)}
    return selectors.skill_list_queryset(user=user, filters=filters)


def detail_payload(
    skill: Skill, *, user: Any, skill_md: str | None = None
) -> dict[str, Any]:
    context = {"user": user, "skill_md": skill_md}
    return {
        "object": "skill",
        "data": SkillDetailSerializer(skill, context=context).data,
    }


class SkillListApi(SkillApiView):
    """GET /v1/autoskill/skills: your skills (and libraries), newest change first."""

    @extend_schema(
        operation_id="skills_list",
        summary="List skills",
        parameters=[SkillListQuerySerializer, *PAGINATION_PARAMETERS],
        responses={
            (200, JSON): list_envelope(SkillSummarySerializer, name="SkillPage"),
            **error_responses(400, 401),
        },
    )
    def get(self, request: Request) -> Response:
        query = SkillListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        skills = skill_list_queryset(user=request.user, filters=query.validated_data)
        context = {"user": request.user}
        return paginate(
            request,
            skills,
            serialize=lambda skill: SkillSummarySerializer(skill, context=context).data,
        )


class SkillDetailApi(SkillApiView):
    """GET / DELETE /v1/autoskill/skills/<id>."""

    @extend_schema(
        operation_id="skills_retrieve",
        summary="Get a skill",
        parameters=[
            SKILL_ID_PARAMETER,
            OpenApiParameter(
                "include_md",
                OpenApiTypes.BOOL,
                OpenApiParameter.QUERY,
                description="Also return the current SKILL.md as skill_md.",
            ),
        ],
        responses={
            (200, JSON): SkillEnvelopeSerializer,
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request: Request, skill_id: str) -> Response:
        skill = skill_for_read(request.user, skill_id)
        wants_md = request.query_params.get("include_md", "").lower() in TRUE_WORDS
        skill_md = current_skill_md(skill) if wants_md else None
        return Response(
            detail_payload(skill, user=request.user, skill_md=skill_md),
            headers={"ETag": etag_of(skill)},
        )

    @extend_schema(
        operation_id="skills_destroy",
        summary="Delete a skill and its history",
        description="Hard delete. Honours If-Match (412 when the skill changed).",
        parameters=[
            SKILL_ID_PARAMETER,
            IF_MATCH,
        ],
        responses={
            (200, JSON): SkillDeletedSerializer,
            **error_responses(400, 401, 403, 404, 412),
        },
    )
    def delete(self, request: Request, skill_id: str) -> Response:
        with transaction.atomic():
            skill = skill_for_write(request.user, skill_id)
            check_if_match(request, skill)
            skill_delete(skill_id=skill.pk)
        return Response(
            {
                "id": str(skill.pk),
                "object": "skill.deleted",
                "deleted": True,
                "skill_id": str(skill.pk),
                "ok": True,
            }
        )
