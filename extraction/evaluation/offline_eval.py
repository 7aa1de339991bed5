"""Measure the offline heuristic extractor on a labelled conversation set.

The question measured is binary (should this conversation yield a skill?), reported
as precision / recall / F1 overall and per language, plus how many of the expected
keywords a correctly produced skill contains. Outputs that fail candidate validation
count as "no skill", because the pipeline would drop them too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from autoskill_site.providers.offline import OfflineLLM
from extraction.candidate import CandidateError, candidate_from_json

__all__ = ["DEFAULT_SET", "evaluate_offline", "load_cases"]

DEFAULT_SET = Path(__file__).with_name("offline_conversations.jsonl")
_REQUIRED = ("id", "lang", "messages", "expect_skill")


def load_cases(path: Path | str) -> list[dict[str, Any]]:
    """Parse the JSONL set; a malformed line raises ValueError naming its number."""
    cases: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: not JSON ({exc.msg})") from exc
            missing = [key for key in _REQUIRED if key not in case]
            if missing:
                raise ValueError(f"line {number}: missing {', '.join(missing)}")
            cases.append(case)
    return cases


def _scores(rows: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Binary scores for (expected, predicted) pairs."""
    tp = fp = fn = tn = 0
    for expected, predicted in rows:
        tp += expected and predicted
        fp += predicted and not expected
        fn += expected and not predicted
        tn += not expected and not predicted
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "cases": tp + fp + fn + tn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def _skill_text(candidate: Any) -> str:
    parts = [candidate.name, candidate.description, candidate.instructions]
    return " ".join([*parts, *candidate.triggers, *candidate.tags]).casefold()


def evaluate_offline(path: Path | str = DEFAULT_SET) -> dict[str, Any]:
    """Run `OfflineLLM.extract_candidate` on every case and score the decisions."""
    llm = OfflineLLM()
    outcomes: list[dict[str, Any]] = []
    for case in load_cases(path):
        messages = [dict(m) for m in case["messages"]]
        raw = llm.extract_candidate(
            user_turns=[m["content"] for m in messages if m.get("role") == "user"],
            context_turns=messages,
            hint=case.get("hint"),
        )
        candidate, invalid = None, False
        if raw is not None:
            try:
                candidate = candidate_from_json({"skills": [raw]})
            except CandidateError:
                invalid = True
        keywords = case.get("expect_keywords") or []
        hits = None
        if candidate is not None and case["expect_skill"] and keywords:
            text = _skill_text(candidate)
            hits = sum(k.casefold() in text for k in keywords) / len(keywords)
        outcomes.append(
            {
                "id": case["id"],
                "lang": case["lang"],
                "kind": case.get("kind", ""),
                "expected": bool(case["expect_skill"]),
                "predicted": candidate is not None,
                "invalid": invalid,
                "name": candidate.slug if candidate else None,
                "keyword_hits": hits,
            }
        )
    return _report(outcomes)


def _report(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    pairs = [(o["expected"], o["predicted"]) for o in outcomes]
    languages = sorted({o["lang"] for o in outcomes})
    kinds = sorted({o["kind"] for o in outcomes})
    hit_rates = [o["keyword_hits"] for o in outcomes if o["keyword_hits"] is not None]
    return {
        **_scores(pairs),
        "positives": sum(expected for expected, _ in pairs),
        "by_lang": {
            lang: _scores(
                (o["expected"], o["predicted"]) for o in outcomes if o["lang"] == lang
            )
            for lang in languages
        },
        "by_kind": {
            kind: {
                "cases": sum(o["kind"] == kind for o in outcomes),
                "correct": sum(
                    o["kind"] == kind and o["expected"] == o["predicted"]
                    for o in outcomes
                ),
            }
            for kind in kinds
        },
        "keyword_hit_rate": (
            round(sum(hit_rates) / len(hit_rates), 4) if hit_rates else None
        ),
        "misclassified": [o["id"] for o in outcomes if o["expected"] != o["predicted"]],
        "invalid": [o["id"] for o in outcomes if o["invalid"]],
        "names": {o["id"]: o["name"] for o in outcomes if o["name"]},
    }
