"""Staff-only vector index endpoints: coverage per embedding signature, and rebuilds.

A vector is "embedded" when its stored content hash equals the hash of the skill's
current embedding text, "stale" when the skill changed since, and "missing" when
the skill has none for that signature. Rebuilds run in the background; search
keeps serving (keyword-only for missing vectors) meanwhile.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django_tasks import TaskResultStatus
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from autoskill_site.providers.embeddings import embedder_from_settings
from proxy.api.extraction_common import AUTHENTICATION, error_responses
from proxy.api.extraction_tasks import scope_skills, task_status, vectors_rebuild_task
from retrieval.embeddings import SKILL_TEXT_FIELDS, skill_text, text_hash
from retrieval.models import SkillEmbedding
from retrieval.search import SCOPE_ALIASES, SCOPES
from retrieval.text import embedding_text

__all__ = ["VectorsRebuildApi", "VectorsStatusApi", "vector_status"]

# Same choices as the search API (one enum in the schema); "user" here means every
# user's skills, since only staff call these endpoints.
SCOPE_CHOICES = [*SCOPES, *SCOPE_ALIASES]


def embeddings_description() -> tuple[dict[str, Any], str | None]:
    try:
        embedder = embedder_from_settings()
    except (ImproperlyConfigured, ValueError) as exc:
        return {"enabled": False, "error": str(exc)}, None
    if embedder is None:
        return {"enabled": False, "provider": "none"}, None
    return (
        {
            "enabled": True,
            "provider": embedder.provider,
            "model": embedder.model,
            "dims": embedder.dims or None,
            "signature": embedder.signature,
        },
        embedder.signature,
    )


def vector_status(*, scope: str = "all") -> dict[str, Any]:
    """Coverage of the scope's active skills for every signature that has vectors."""
    embeddings, current = embeddings_description()
    skills = scope_skills(scope)
    hashes = {
        row["id"]: text_hash(embedding_text(skill_text(row)))
        for row in skills.values(*SKILL_TEXT_FIELDS).iterator(chunk_size=500)
    }
    stored = SkillEmbedding.objects.filter(skill_id__in=list(hashes)).values_list(
        "signature", "skill_id", "content_hash", "dims"
    )
    by_signature: dict[str, dict[str, Any]] = {}
    if current:
        by_signature[current] = {"hashes": {}, "dims": set()}
    for signature, skill_id, digest, dims in stored.iterator(chunk_size=2000):
        entry = by_signature.setdefault(signature, {"hashes": {}, "dims": set()})
        entry["hashes"][skill_id] = digest
        entry["dims"].add(dims)
    rows = []
    for signature, entry in sorted(
        by_signature.items(), key=lambda item: (item[0] != current, item[0])
    ):
        fresh = sum(1 for sid, h in entry["hashes"].items() if hashes.get(sid) == h)
        rows.append(
            {
                "signature": signature,
                "current": signature == current,
                "dims": sorted(entry["dims"]),
                "total_skills": len(hashes),
                "embedded": fresh,
                "stale": len(entry["hashes"]) - fresh,
                "missing": len(hashes) - len(entry["hashes"]),
            }
        )
    return {
        "object": "vector_status",
        "scope": scope,
        "total_skills": len(hashes),
        "embeddings": embeddings,
        "data": rows,
    }


_SIGNATURE_ROW = inline_serializer(
    "VectorSignatureStatus",
    {
        "signature": serializers.CharField(),
        "current": serializers.BooleanField(help_text="The signature search uses now."),
        "dims": serializers.ListField(child=serializers.IntegerField()),
        "total_skills": serializers.IntegerField(),
        "embedded": serializers.IntegerField(),
        "stale": serializers.IntegerField(),
        "missing": serializers.IntegerField(),
    },
    many=True,
)

_SCOPE_PARAMETER = OpenApiParameter(
    "scope",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    enum=SCOPE_CHOICES,
    description="all (default), user (every user's skills) or library (alias common).",
)


def _scope(value: Any) -> str:
    scope = str(value or "all").strip().lower()
    if scope not in SCOPE_CHOICES:
        raise serializers.ValidationError(
            {"scope": f"Must be one of {', '.join(SCOPE_CHOICES)}."}
        )
    return SCOPE_ALIASES.get(scope, scope)


class VectorsStatusApi(APIView):
    """GET /v1/autoskill/vectors/status (staff): embedded / stale / missing per signature."""

    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(
        operation_id="autoskill_vectors_status",
        summary="Vector index coverage (staff)",
        tags=["vectors"],
        parameters=[_SCOPE_PARAMETER],
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "VectorStatus",
                    {
                        "object": serializers.CharField(default="vector_status"),
                        "scope": serializers.CharField(),
                        "total_skills": serializers.IntegerField(),
                        "embeddings": serializers.DictField(
                            help_text="The configured provider (or why none)."
                        ),
                        "data": _SIGNATURE_ROW,
                    },
                )
            ),
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(vector_status(scope=_scope(request.query_params.get("scope"))))


class RebuildInput(serializers.Serializer):
    scope = serializers.ChoiceField(choices=SCOPE_CHOICES, default="all")
    force = serializers.BooleanField(
        default=False,
        help_text="Re-embed every skill, not only missing or stale vectors.",
    )


class VectorsRebuildApi(APIView):
    """POST /v1/autoskill/vectors/rebuild (staff): queue re-embedding in the background."""

    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated, IsAdminUser]

    @extend_schema(
        operation_id="autoskill_vectors_rebuild",
        summary="Queue a vector rebuild (staff)",
        tags=["vectors"],
        request=RebuildInput,
        responses={
            202: OpenApiResponse(
                inline_serializer(
                    "VectorRebuild",
                    {
                        "object": serializers.CharField(default="vector_rebuild"),
                        "id": serializers.CharField(help_text="The task id."),
                        "status": serializers.CharField(),
                        "scope": serializers.CharField(),
                        "force": serializers.BooleanField(),
                        "result": serializers.DictField(
                            allow_null=True,
                            help_text="Counts, when the backend ran it at once.",
                        ),
                    },
                ),
                description="Queued.",
            ),
            **error_responses(400, 401, 403),
        },
    )
    def post(self, request: Request) -> Response:
        data = RebuildInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        scope = SCOPE_ALIASES.get(args["scope"], args["scope"])
        result = vectors_rebuild_task.enqueue(scope=scope, force=args["force"])
        done = result.status == TaskResultStatus.SUCCESSFUL
        return Response(
            {
                "object": "vector_rebuild",
                "id": str(result.id),
                "status": task_status(result),
                "scope": scope,
                "force": args["force"],
                "result": result.return_value if done else None,
            },
            status=status.HTTP_202_ACCEPTED,
        )
