"""Retrieval for one chat turn: query, optional rewrite, search, rendering.

Sync and ORM-bound: the engine runs it inside its single thread hop. A retrieval
failure never fails the chat turn; it is reported in the `autoskill` summary and the
request goes upstream without skills.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from retrieval.context import ContextSkill, render_skills_context
from retrieval.hits import context_skills, hit_reference
from retrieval.llm_hooks import default_rewriter
from retrieval.rewrite import RewriteMode, rewrite_query
from retrieval.search import MAX_QUERY_CHARS, SkillHit, skill_search

__all__ = ["TurnRetrieval", "context_skills", "retrieve_turn"]

logger = logging.getLogger(__name__)


@dataclass
class TurnRetrieval:
    """What retrieval decided for one turn; `context` is the text to inject."""

    original_query: str
    search_query: str = ""
    rewritten: bool = False
    rewrite_reason: str = ""
    scope: str = "all"
    mode: str = ""
    top_k: int = 0
    min_score: float = 0.0
    hits: list[SkillHit] = field(default_factory=list)
    skills: list[ContextSkill] = field(default_factory=list)
    context: str = ""
    injected_ids: tuple[str, ...] = ()
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def own_skills(self) -> list[ContextSkill]:
        """The retrieved skills the user owns: the only ones the usage audit counts."""
        own = {hit.skill.id for hit in self.hits if not hit.skill.library_slug}
        return [skill for skill in self.skills if skill.id in own]

    def reference(self) -> dict[str, Any] | None:
        """The top hit: extraction's identity context (never its evidence)."""
        if not self.hits:
            return None
        return hit_reference(self.hits[0])

    def summary(self) -> dict[str, Any]:
        """The `autoskill.retrieval` object of a response."""
        return {
            "original_query": self.original_query,
            "rewritten_query": self.search_query if self.rewritten else None,
            "search_query": self.search_query,
            "rewritten": self.rewritten,
            "rewrite_reason": self.rewrite_reason,
            "scope": self.scope,
            "mode": self.mode,
            "top_k": self.top_k,
            "min_score": self.min_score,
            "hits": [
                {
                    "rank": hit.rank,
                    "id": hit.skill.id,
                    "name": hit.skill.name,
                    "title": hit.skill.title,
                    "version": hit.skill.version,
                    "source": hit.skill.source,
                    "score": round(float(hit.score), 4),
                }
                for hit in self.hits
            ],
            "injected_ids": list(self.injected_ids),
            "context_injected": bool(self.context),
            "error": self.error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _rewritten(
    result: TurnRetrieval, messages: list[dict[str, Any]], mode: str
) -> None:
    rewriter = None
    if mode != RewriteMode.NEVER:
        try:
            rewriter = default_rewriter()
        except (ImproperlyConfigured, ValueError) as exc:
            result.error = f"rewrite model unavailable: {exc}"
    started = time.perf_counter()
    rewrite = rewrite_query(
        query=result.original_query,
        history=messages,
        mode=mode,
        rewriter=rewriter,
        timeout=float(settings.AUTOSKILL_REWRITE_TIMEOUT),
    )
    result.timings["rewrite_ms"] = (time.perf_counter() - started) * 1000
    result.search_query = rewrite.query
    result.rewritten = rewrite.rewritten
    result.rewrite_reason = rewrite.reason


def retrieve_turn(
    *,
    user: Any,
    query: str,
    messages: list[dict[str, Any]],
    scope: str,
    top_k: int | None = None,
    min_score: float | None = None,
    rewrite_mode: str | None = None,
) -> TurnRetrieval:
    """Rewrite, search and render the skills for a turn.

    top_k, min_score and rewrite_mode default to AUTOSKILL_TOP_K, AUTOSKILL_MIN_SCORE
    and AUTOSKILL_REWRITE_MODE (the proxy); browser sessions carry their own.
    """
    result = TurnRetrieval(
        original_query=query,
        search_query=query,
        scope=scope,
        top_k=int(settings.AUTOSKILL_TOP_K if top_k is None else top_k),
        min_score=float(
            settings.AUTOSKILL_MIN_SCORE if min_score is None else min_score
        ),
    )
    mode = str(
        settings.AUTOSKILL_REWRITE_MODE if rewrite_mode is None else rewrite_mode
    )
    if not query:
        result.rewrite_reason = "no user message"
        return result
    try:
        _rewritten(result, messages, mode)
        # A pasted document is still a fine query once clipped; it must not fail the turn.
        found = skill_search(
            user=user,
            query=result.search_query[:MAX_QUERY_CHARS],
            scope=scope,
            top_k=result.top_k,
            min_score=result.min_score,
        )
        result.mode = found.mode
        result.hits = found.hits
        result.timings.update(found.timings)
        started = time.perf_counter()
        result.skills = context_skills(found.hits)
        rendered = render_skills_context(
            result.skills,
            query=query,
            max_units=int(settings.AUTOSKILL_MAX_CONTEXT_CHARS),
        )
        result.timings["render_ms"] = (time.perf_counter() - started) * 1000
        result.context = rendered.text
        result.injected_ids = rendered.included_ids
    except Exception as exc:  # noqa: BLE001 - the turn goes on without skills, and says why
        logger.exception("Retrieval failed for a proxied chat turn")
        result.error = f"retrieval failed: {type(exc).__name__}: {exc}"[:300]
        result.context, result.injected_ids = "", ()
    return result


def audit_usage(
    retrieval: TurnRetrieval, *, user: Any, reply_text: str
) -> dict[str, str]:
    """Queue the usage audit of the user's own retrieved skills; the `usage` object.

    Library skills are never counted, so without any of the user's own there is
    nothing to audit.
    """
    if not retrieval.own_skills or not reply_text:
        return {"status": "skipped"}
    from extraction.audit import usage_audit_schedule

    usage_audit_schedule(
        user=user,
        query=retrieval.original_query,
        reply=reply_text,
        skills=retrieval.own_skills,
        injected_ids=retrieval.injected_ids,
    )
    return {"status": "scheduled"}
