"""The background task behind ``usage_audit_schedule`` (queue ``audit``).

Arguments are plain JSON (a user id, strings, skill dicts) because the database
backend stores them; the judge client is resolved here, in the worker, from
settings (purpose AUDIT), never passed in.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django_tasks import task

from autoskill_site.providers.llm import LLMClient, LLMPurpose
from extraction.audit import audit_nothing, usage_audit_run
from retrieval.context import ContextSkill
from retrieval.llm_hooks import llm_for

__all__ = ["skill_from_payload", "skill_to_payload", "usage_audit_task"]

logger = logging.getLogger(__name__)


def _judge_client() -> LLMClient | None:
    """The configured audit client; a broken configuration leaves the heuristic."""
    try:
        return llm_for(LLMPurpose.AUDIT)
    except (ImproperlyConfigured, ValueError):
        # The audit is bookkeeping: a misconfigured judge must not lose the turn's
        # counters, and every verdict is labelled "heuristic", so nothing is faked.
        logger.exception("Usage judge client unavailable; the heuristic judges")
        return None


def skill_to_payload(skill: ContextSkill) -> dict[str, Any]:
    """A JSON-able dict of ``skill`` for a task argument."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(skill).items()
    }


def skill_from_payload(data: dict[str, Any]) -> ContextSkill:
    """The ``ContextSkill`` back from ``skill_to_payload``; unknown keys are dropped."""
    names = {f.name: f for f in dataclasses.fields(ContextSkill)}
    values = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in data.items()
        if key in names
    }
    return ContextSkill(**values)


@task(queue_name="audit")
def usage_audit_task(
    *,
    user_id: int,
    query: str,
    reply: str,
    skills: list[dict[str, Any]],
    injected_ids: list[str],
) -> dict[str, Any]:
    """Run the usage audit for one turn; a deleted user leaves nothing to do."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return audit_nothing(
            note="user no longer exists", ignored=[s.get("id") for s in skills]
        )
    rate = float(settings.AUTOSKILL_USAGE_AUDIT_RATE)
    return usage_audit_run(
        user=user,
        query=query,
        reply=reply,
        skills=[skill_from_payload(s) for s in skills],
        injected_ids=injected_ids,
        # With sampling off the client is never needed, so it is never built.
        llm=_judge_client() if rate > 0 else None,
        rate=rate,
    )
