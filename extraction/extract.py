"""Propose at most one candidate skill from an evidence window.

The model is asked for JSON (provider JSON mode where available) and the answer is
validated; an invalid answer gets exactly one repair call that is told what was
wrong. The original scanned every brace of 20k characters and fell back to scraping
"name:" lines out of prose, which could fabricate skills from reasoning text; we do
neither. Transport failures propagate as LLMError so the job can retry them: a
failure is never reported as "nothing to extract".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from autoskill_site.providers.llm import LLMClient
from extraction.candidate import Candidate, CandidateError, candidate_from_json
from extraction.evidence import EvidenceWindow
from extraction.prompts import extract_messages, repair_messages
from extraction.redaction import redact_value

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
MAX_ANSWER_CHARS = 60_000


class MalformedAnswer(ValueError):
    """The model's answer stayed unusable after the repair call."""


@dataclass
class ExtractionResult:
    candidate: Candidate | None
    calls: int = 0
    repaired: bool = False
    notes: list[str] = field(default_factory=list)


def parse_json_answer(text: str) -> Any:
    """The JSON object in a model answer: the whole text, fenced, or the first object in it."""
    text = (text or "").strip()[:MAX_ANSWER_CHARS]
    stripped = _FENCE.sub("", text).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    start = stripped.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped[start:])
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    return value


def _candidate_from_text(text: str) -> Candidate | None:
    try:
        data = parse_json_answer(text)
    except ValueError as exc:
        raise CandidateError(str(exc)) from exc
    return candidate_from_json(data)


def extraction_payload(
    window: EvidenceWindow, reference: dict[str, Any] | None
) -> dict[str, Any]:
    payload = window.payload()
    payload["reference"] = redact_value(reference) if reference else None
    return payload


def extract_candidate(
    *,
    window: EvidenceWindow,
    llm: LLMClient,
    reference: dict[str, Any] | None = None,
    model: str | None = None,
) -> ExtractionResult:
    """One candidate or none. Raises LLMError (transport) or MalformedAnswer."""
    if not window.user_turns and not window.events:
        return ExtractionResult(candidate=None, notes=["no user turns"])
    if getattr(llm, "offline", False):
        raw = llm.extract_candidate(  # type: ignore[attr-defined]
            user_turns=window.user_turns,
            context_turns=[dict(m) for m in window.messages],
            hint=window.hint or None,
        )
        candidate = candidate_from_json({"skills": [raw]}) if raw else None
        return ExtractionResult(candidate=candidate, notes=["offline heuristic"])
    payload = extraction_payload(window, reference)
    messages = extract_messages(payload)
    reply = llm.complete(
        messages,
        model=model,
        temperature=0.0,
        json_mode=True,
    )
    try:
        return ExtractionResult(candidate=_candidate_from_text(reply.text), calls=1)
    except CandidateError as first:
        problems = str(first)
    repaired = llm.complete(
        repair_messages(payload, reply.text, problems),
        model=model,
        temperature=0.0,
        json_mode=True,
    )
    try:
        candidate = _candidate_from_text(repaired.text)
    except CandidateError as second:
        raise MalformedAnswer(
            f"Unusable extraction answer after one repair: {second}"
        ) from second
    return ExtractionResult(
        candidate=candidate, calls=2, repaired=True, notes=[f"repaired: {problems}"]
    )
