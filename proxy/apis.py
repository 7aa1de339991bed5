"""The /v1/autoskill REST API (DRF): thin views over retrieval and skills services."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from proxy.authentication import API_AUTHENTICATION
from retrieval.search import (
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    SCOPE_ALIASES,
    SCOPES,
    SkillHit,
    skill_search,
)


class SkillSearchApi(APIView):
    """POST /v1/autoskill/skills/search: rank the caller's skills (and libraries) for a query."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        query = serializers.CharField(max_length=MAX_QUERY_CHARS, required=False)
        q = serializers.CharField(max_length=MAX_QUERY_CHARS, required=False)
        limit = serializers.IntegerField(
            min_value=1, max_value=MAX_TOP_K, required=False
        )
        scope = serializers.ChoiceField(
            choices=[*SCOPES, *SCOPE_ALIASES], default="all"
        )
        min_score = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)

        def validate(self, attrs: dict) -> dict:
            query = (attrs.get("query") or attrs.get("q") or "").strip()
            if not query:
                raise serializers.ValidationError({"query": "This field is required."})
            attrs["query"] = query
            return attrs

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        result = skill_search(
            user=request.user,
            query=args["query"],
            scope=args["scope"],
            top_k=args.get("limit"),  # default: AUTOSKILL_TOP_K
            min_score=args.get("min_score"),  # default: AUTOSKILL_MIN_SCORE
        )
        hits = [_hit(hit) for hit in result.hits]
        return Response(
            {
                "object": "list",
                "query": result.query,
                "user": request.user.get_username(),
                "scope": result.scope,
                "mode": result.mode,
                "data": hits,
                # The original API also split hits by origin; kept for its clients.
                "data_user": [h for h in hits if h["source"] == "user"],
                "data_library": [h for h in hits if h["source"] != "user"],
            }
        )


def _hit(hit: SkillHit) -> dict:
    return {
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
