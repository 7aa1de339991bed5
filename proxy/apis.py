"""The /v1/autoskill REST API (DRF): thin views over retrieval and skills services."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from proxy.authentication import ApiKeyAuthentication
from retrieval.search import (
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    SCOPE_ALIASES,
    SCOPES,
    skill_search,
)


class SkillSearchApi(APIView):
    """POST /v1/autoskill/skills/search: rank the caller's skills (and libraries) for a query."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        query = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=True)
        limit = serializers.IntegerField(
            min_value=1, max_value=MAX_TOP_K, required=False
        )
        scope = serializers.ChoiceField(
            choices=[*SCOPES, *SCOPE_ALIASES], default="all"
        )
        min_score = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        result = skill_search(
            user=request.user,
            query=args["query"],
            scope=args["scope"],
            top_k=args.get("limit", 5),
            min_score=args.get("min_score", 0.0),
        )
        return Response(
            {
                "object": "list",
                "query": result.query,
                "scope": result.scope,
                "mode": result.mode,
                "data": [
                    {
                        "object": "skill_hit",
                        "rank": hit.rank,
                        "id": hit.skill.id,
                        "score": hit.score,
                        "name": hit.skill.name,
                        "title": hit.skill.title,
                        "description": hit.skill.description,
                        "version": hit.skill.version,
                        "source": hit.skill.source,
                        "keyword_score": hit.keyword_score,
                        "vector_score": hit.vector_score,
                    }
                    for hit in result.hits
                ],
            }
        )
