"""POST /v1/autoskill/retrieval/preview: everything a chat turn would inject, without the chat.

The preview runs the same steps as a proxied turn (rewrite policy, hybrid search,
optional LLM selection, rendering within the context budget) and reports each
step's decision and cost, so a user can see why a skill was or was not used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from proxy.api.extraction_common import (
    AUTHENTICATION,
    PERMISSIONS,
    ConversationInput,
    error_responses,
)
from retrieval.context import ContextSkill, render_skills_context
from retrieval.hits import context_skills, hit_reference
from retrieval.llm_hooks import default_rewriter, default_selector
from retrieval.rewrite import RewriteMode, RewriteResult, rewrite_query
from retrieval.search import MAX_TOP_K, SearchResult, SkillHit, skill_search
from retrieval.selection import SelectionResult, select_skills

__all__ = ["RetrievalPreviewApi", "TurnRetrieval", "retrieve_for_messages"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnRetrieval:
    """The rewrite decision and the search result for one conversation."""

    original_query: str
    rewrite: RewriteResult
    result: SearchResult
    rewrite_ms: float
    error: str | None


def retrieve_for_messages(
    *,
    user: Any,
    messages: Sequence[Mapping[str, Any]],
    query: str,
    scope: str,
    top_k: int | None,
    min_score: float | None,
    rewrite_mode: str | None = None,
) -> TurnRetrieval:
    """Rewrite (per policy) then search, as a chat turn does; a broken rewriter falls back."""
    mode = rewrite_mode or settings.AUTOSKILL_REWRITE_MODE
    error = None
    started = time.perf_counter()
    try:
        rewriter = default_rewriter() if mode != RewriteMode.NEVER else None
    except (ImproperlyConfigured, ValueError) as exc:
        # A misconfigured rewrite model must not hide retrieval; say so instead.
        rewriter, error = None, f"rewrite model unavailable: {exc}"
    rewrite = rewrite_query(
        query=query,
        history=list(messages),
        mode=mode,
        rewriter=rewriter,
        timeout=float(settings.AUTOSKILL_REWRITE_TIMEOUT),
    )
    rewrite_ms = (time.perf_counter() - started) * 1000
    result = skill_search(
        user=user, query=rewrite.query, scope=scope, top_k=top_k, min_score=min_score
    )
    return TurnRetrieval(
        original_query=query,
        rewrite=rewrite,
        result=result,
        rewrite_ms=rewrite_ms,
        error=error,
    )


def reference_from(retrieval: TurnRetrieval) -> dict[str, Any]:
    """The top hit as extraction's identity reference ({} when nothing matched)."""
    if not retrieval.result.hits:
        return {}
    return hit_reference(retrieval.result.hits[0])


def _selection(
    query: str, candidates: list[ContextSkill], use_llm: bool
) -> tuple[SelectionResult, str | None]:
    if not use_llm:
        return (
            SelectionResult(
                selected_ids=tuple(c.id for c in candidates),
                reason="selection off: kept all",
                used_llm=False,
            ),
            None,
        )
    try:
        selector = default_selector()
    except (ImproperlyConfigured, ValueError) as exc:
        selector, error = None, f"selection model unavailable: {exc}"
    else:
        error = None
    timeout = float(settings.AUTOSKILL_SELECTION_TIMEOUT)
    selection = select_skills(
        query=query, candidates=candidates, selector=selector, timeout=timeout
    )
    return selection, error


def _hit(hit: SkillHit, *, selected: set[str], injected: set[str]) -> dict[str, Any]:
    skill = hit.skill
    return {
        "object": "skill_hit",
        "rank": hit.rank,
        "id": skill.id,
        "score": hit.score,
        "keyword_score": hit.keyword_score,
        "vector_score": hit.vector_score,
        "name": skill.name,
        "title": skill.title,
        "description": skill.description,
        "version": skill.version,
        "source": skill.source,
        "selected": skill.id in selected,
        "injected": skill.id in injected,
    }


def retrieval_preview(
    *,
    user: Any,
    messages: Sequence[Mapping[str, Any]],
    query: str,
    scope: str,
    top_k: int | None,
    min_score: float | None,
    rewrite_mode: str | None,
    select: bool,
) -> dict[str, Any]:
    """Run rewrite, search, selection and rendering; return every decision."""
    started = time.perf_counter()
    retrieval = retrieve_for_messages(
        user=user, messages=messages, query=query, scope=scope,
        top_k=top_k, min_score=min_score, rewrite_mode=rewrite_mode,
    )  # fmt: skip
    hits = retrieval.result.hits
    errors = [retrieval.error] if retrieval.error else []
    candidates = context_skills(hits)
    selection, selection_error = _selection(query, candidates, select)
    if selection_error:
        errors.append(selection_error)
    chosen = [c for c in candidates if c.id in set(selection.selected_ids)]
    render_started = time.perf_counter()
    rendered = render_skills_context(
        chosen, query=query, max_units=int(settings.AUTOSKILL_MAX_CONTEXT_CHARS)
    )
    render_ms = (time.perf_counter() - render_started) * 1000
    selected, injected = set(selection.selected_ids), set(rendered.included_ids)
    rows = [_hit(h, selected=selected, injected=injected) for h in hits]
    rewrite = retrieval.rewrite
    timings = {
        "rewrite_ms": round(retrieval.rewrite_ms, 3),
        **{k: round(v, 3) for k, v in retrieval.result.timings.items()},
        "render_ms": round(render_ms, 3),
        "total_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return {
        "object": "retrieval_preview",
        "user": user.get_username(),
        "scope": retrieval.result.scope,
        "mode": retrieval.result.mode,
        "original_query": query,
        "rewritten_query": rewrite.query if rewrite.rewritten else None,
        "search_query": rewrite.query,
        "rewrite": {
            "mode": rewrite_mode or settings.AUTOSKILL_REWRITE_MODE,
            "rewritten": rewrite.rewritten,
            "reason": rewrite.reason,
        },
        "event_time": int(time.time() * 1000),
        "top_k": top_k or settings.AUTOSKILL_TOP_K,
        "min_score": settings.AUTOSKILL_MIN_SCORE if min_score is None else min_score,
        "hits": rows,
        "hits_user": [r for r in rows if r["source"] == "user"],
        "hits_library": [r for r in rows if r["source"] != "user"],
        "selection": {
            "used_llm": selection.used_llm,
            "reason": selection.reason,
            "selected_ids": list(selection.selected_ids),
        },
        "selected_for_use_ids": list(selection.selected_ids),
        "selected_for_context_ids": list(rendered.included_ids),
        "truncated_ids": list(rendered.truncated_ids),
        "omitted_ids": list(rendered.omitted_ids),
        "context_injected": bool(rendered.text),
        "context": rendered.text,
        "context_units": rendered.units,
        "max_context_units": int(settings.AUTOSKILL_MAX_CONTEXT_CHARS),
        "timings": timings,
        "error": "; ".join(errors) or None,
    }


class PreviewInput(ConversationInput):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, required=False)
    rewrite_mode = serializers.ChoiceField(
        choices=[m.value for m in RewriteMode],
        required=False,
        help_text="Override AUTOSKILL_REWRITE_MODE for this preview.",
    )
    select = serializers.BooleanField(
        default=False,
        help_text="Also ask the selection model which hits to keep (an LLM call).",
    )


class RetrievalPreviewHitSerializer(serializers.Serializer):
    object = serializers.CharField(default="skill_hit")
    rank = serializers.IntegerField()
    id = serializers.CharField()
    score = serializers.FloatField()
    keyword_score = serializers.FloatField()
    vector_score = serializers.FloatField(allow_null=True)
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    version = serializers.CharField()
    source = serializers.CharField(help_text="`user` or `library:<slug>`.")
    selected = serializers.BooleanField()
    injected = serializers.BooleanField()


class RetrievalPreviewSerializer(serializers.Serializer):
    object = serializers.CharField(default="retrieval_preview")
    user = serializers.CharField()
    scope = serializers.CharField()
    mode = serializers.CharField(help_text="`hybrid` or `keyword`.")
    original_query = serializers.CharField()
    rewritten_query = serializers.CharField(allow_null=True)
    search_query = serializers.CharField()
    rewrite = inline_serializer(
        "RetrievalPreviewRewrite",
        {
            "mode": serializers.CharField(),
            "rewritten": serializers.BooleanField(),
            "reason": serializers.CharField(),
        },
    )
    event_time = serializers.IntegerField(help_text="Epoch milliseconds.")
    top_k = serializers.IntegerField()
    min_score = serializers.FloatField()
    hits = RetrievalPreviewHitSerializer(many=True)
    hits_user = RetrievalPreviewHitSerializer(many=True)
    hits_library = RetrievalPreviewHitSerializer(many=True)
    selection = inline_serializer(
        "RetrievalPreviewSelection",
        {
            "used_llm": serializers.BooleanField(),
            "reason": serializers.CharField(),
            "selected_ids": serializers.ListField(child=serializers.CharField()),
        },
    )
    selected_for_use_ids = serializers.ListField(child=serializers.CharField())
    selected_for_context_ids = serializers.ListField(child=serializers.CharField())
    truncated_ids = serializers.ListField(child=serializers.CharField())
    omitted_ids = serializers.ListField(child=serializers.CharField())
    context_injected = serializers.BooleanField()
    context = serializers.CharField(allow_blank=True)
    context_units = serializers.IntegerField()
    max_context_units = serializers.IntegerField()
    timings = serializers.DictField(child=serializers.FloatField())
    error = serializers.CharField(allow_null=True)


class RetrievalPreviewApi(APIView):
    """Dry-run retrieval for a conversation: no chat model call, nothing stored."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_retrieval_preview",
        summary="Preview retrieval and the injected context",
        tags=["retrieval"],
        request=PreviewInput,
        responses={
            200: OpenApiResponse(
                RetrievalPreviewSerializer, description="Retrieval diagnostics."
            ),
            **error_responses(400, 401, 403),
        },
    )
    def post(self, request: Request) -> Response:
        data = PreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        return Response(
            retrieval_preview(
                user=request.user,
                messages=args["messages"],
                query=args["query"],
                scope=args["scope"],
                top_k=args.get("limit"),
                min_score=args.get("min_score"),
                rewrite_mode=args.get("rewrite_mode"),
                select=args["select"],
            )
        )
