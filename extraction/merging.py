"""Merge a candidate into an existing skill: keep what works, add what is new.

The deterministic merge is the base and the fallback; an LLM merge (when a real model
is configured) may improve the wording, but list fields are always unioned so the
model can never drop an existing trigger or tag.
"""

from __future__ import annotations

import re
from typing import Any

from autoskill_site.providers.llm import LLMClient
from extraction.candidate import Candidate, candidate_from_json
from extraction.extract import parse_json_answer
from extraction.prompts import merge_messages
from skills.models import Skill

_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+", re.MULTILINE)
_PLACEHOLDER = re.compile(r"<[A-Z_]{2,}>")
_QUALITY_WORDS = (
    ("output format", 2), ("format", 1), ("validat", 2), ("check", 2), ("verify", 2),
    ("rollback", 1), ("fallback", 1), ("must", 1), ("never", 1), ("always", 1),
    ("格式", 2), ("检查", 2), ("验证", 2), ("回滚", 1), ("必须", 1), ("不要", 1),
)  # fmt: skip


def instruction_quality(text: str) -> float:
    """A rough usefulness score: structure, checks and explicit rules, a little length."""
    lowered = text.casefold()
    score = 4.0 * min(len(_NUMBERED.findall(text)), 10) / 10
    score += sum(weight for word, weight in _QUALITY_WORDS if word in lowered)
    score += 1.0 if _PLACEHOLDER.search(text) else 0.0
    score += 1.0 if "# goal" in lowered else 0.0
    return score + min(len(text) / 500, 3.0)


def _union(*lists: list[str]) -> list[str]:
    seen: set[str] = set()
    merged: list[str] = []
    for items in lists:
        for item in items:
            key = item.strip().casefold()
            if key and key not in seen:
                seen.add(key)
                merged.append(item.strip())
    return merged


def merge_fields(existing: Skill, candidate: Candidate) -> dict[str, Any]:
    """Deterministic merge: name kept, better instructions kept, lists unioned."""
    fields = candidate.as_skill_fields()
    old_score = instruction_quality(existing.instructions)
    new_score = instruction_quality(fields["instructions"])
    longer = len(fields["instructions"]) > 1.1 * len(existing.instructions)
    instructions = (
        fields["instructions"]
        if new_score > old_score + 1 or (new_score >= old_score and longer)
        else existing.instructions
    )
    description = (
        fields["description"]
        if len(fields["description"]) > 1.1 * len(existing.description)
        else existing.description
    )
    return {
        "description": description,
        "instructions": instructions,
        # A full union, as the original merges: a cap here silently dropped every
        # trigger learned after the eighth (a lost update by another name).
        "triggers": _union(existing.triggers, fields["triggers"]),
        "tags": _union(existing.tags, fields["tags"]),
    }


def _brief(skill: Skill) -> dict[str, Any]:
    return {
        "name": skill.name,
        "description": skill.description,
        "instructions": skill.instructions,
        "triggers": skill.triggers,
        "tags": skill.tags,
        "version": skill.version,
    }


def merged_with_llm(
    existing: Skill, candidate: Candidate, llm: LLMClient | None
) -> dict[str, Any] | None:
    """The model's merge on top of the deterministic one, or None to use the latter.

    A transport failure propagates (the job retries); an unusable answer falls back.
    """
    if llm is None or getattr(llm, "offline", False):
        return None
    brief = {k: v for k, v in candidate.model_dump().items() if k != "files"}
    reply = llm.complete(
        merge_messages(_brief(existing), brief), temperature=0.0, json_mode=True
    )
    try:
        data = parse_json_answer(reply.text)
        if isinstance(data, dict) and "instructions" not in data and data.get("prompt"):
            data["instructions"] = data["prompt"]
        merged = candidate_from_json(
            {"skills": [{"name": existing.name, **data}]}
            if isinstance(data, dict)
            else data
        )
    except ValueError:  # includes CandidateError: fall back to the rules
        return None
    if merged is None:
        return None
    base = merge_fields(existing, candidate)
    return {
        "description": merged.description,
        "instructions": merged.instructions,
        "triggers": _union(existing.triggers, merged.triggers, base["triggers"]),
        "tags": _union(existing.tags, merged.tags, base["tags"]),
    }
