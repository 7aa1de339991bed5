"""The summary metrics and the report document (the original's shape plus our fields)."""

from __future__ import annotations

from typing import Any

METRIC_GUIDE = {
    "sr_before": "success rate of baseline answers (fresh user, no skills) over ok cases",
    "sr_after": "success rate of post-evolution answers (same queries, evolved user)",
    "sr_uplift_abs": "sr_after - sr_before",
    "sr_uplift_rel": "sr_uplift_abs / sr_before (null when sr_before is 0)",
    "extraction_case_rate": "share of ok cases whose training produced >= 1 skill",
    "extraction_rate_positive": "share of ok positive cases that produced >= 1 skill",
    "extraction_precision": "share of skill-producing cases that were positives "
    "(negatives that produced skills lower it)",
    "negatives_with_skills": "negative cases (nothing to learn) that produced a skill",
    "duplicates_created": "distinct skills per evolved user beyond one per scenario",
    "retrieval_hit_rate": "share of post-evolution reuse queries whose retrieval hits "
    "included a skill learned in that case (cases that learned something)",
}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summary_build(
    *, cases: list[dict[str, Any]], threshold: float, elapsed_s: float
) -> dict[str, Any]:  # noqa: E501
    """`summary` of the report: the original's metrics plus precision, duplicates, hits."""
    ok = [c for c in cases if c["ok"]]
    before = sum(1 for c in ok if c["success"]["before"])
    after = sum(1 for c in ok if c["success"]["after"])
    extracted = [c for c in ok if c["evolution"]["skill_ids"]]
    positives = [c for c in ok if c["scenario"]["expect_extract"]]
    negatives = [c for c in ok if not c["scenario"]["expect_extract"]]
    learned_pos = [c for c in positives if c["evolution"]["skill_ids"]]
    learned_neg = [c for c in negatives if c["evolution"]["skill_ids"]]
    hit_rates = [
        c["retrieval_hit_rate"] for c in ok if c.get("retrieval_hit_rate") is not None
    ]
    sr_before = before / len(ok) if ok else None
    sr_after = after / len(ok) if ok else None
    uplift = sr_after - sr_before if ok else None
    scores_before = [c["scores"]["before"] for c in ok]
    scores_after = [c["scores"]["after"] for c in ok]
    metrics = {
        "sr_before": sr_before,
        "sr_after": sr_after,
        "sr_uplift_abs": uplift,
        "sr_uplift_rel": (uplift / sr_before) if sr_before else None,
        "avg_score_before": _mean(scores_before),
        "avg_score_after": _mean(scores_after),
        "avg_score_delta": (_mean(scores_after) or 0.0) - (_mean(scores_before) or 0.0) if ok else None,
        "extraction_case_rate": len(extracted) / len(ok) if ok else None,
        "extraction_rate_positive": len(learned_pos) / len(positives) if positives else None,
        "extraction_precision": len(learned_pos) / len(extracted) if extracted else None,
        "negatives_with_skills": len(learned_neg),
        "duplicates_created": sum(max(0, len(c["evolution"]["skill_ids"]) - 1) for c in ok),
        "retrieval_hit_rate": _mean(hit_rates),
    }  # fmt: skip
    return {
        "strategy": "evolution",
        "metrics": metrics,
        "counts": {"success_before": before, "success_after": after,
                   "extracted_cases": len(extracted), "positive_cases": len(positives),
                   "negative_cases": len(negatives)},
        "total_cases": len(cases),
        "ok_cases": len(ok),
        "failed_cases": len(cases) - len(ok),
        "elapsed_s": round(elapsed_s, 3),
        "judge_success_threshold": threshold,
        "automation": "baseline (fresh user) -> training turns (evolving user, extraction) "
        "-> wait for jobs -> post-evolution answers; judged against a requirement contract",
        "metric_guide": METRIC_GUIDE,
    }  # fmt: skip


def analysis_row(case: dict[str, Any]) -> dict[str, Any]:
    """One flattened row per case (the original's `_analysis.jsonl`)."""
    scenario = case["scenario"]
    row = {"id": scenario["id"], "topic": scenario["topic"], "ok": case["ok"],
           "expect_extract": scenario["expect_extract"], "error": case["error"],
           "turns": scenario["turns_final"], "contract": case["requirement_contract"],
           "queries": case["evaluation_queries"]}  # fmt: skip
    if case["ok"]:
        for stage, key in (("baseline", "baseline"), ("post", "post_evolution")):
            judge = case[key]["judge"]
            row.update({f"{stage}_answer": case[key]["answer"], f"{stage}_score": judge["score"],
                        f"{stage}_success": judge["success"], f"{stage}_reason": judge["reason"],
                        f"{stage}_success_rate": judge["success_rate"]})  # fmt: skip
        row.update(upserted_total=case["evolution"]["upserted_total"],
                   skill_ids=case["evolution"]["skill_ids"],
                   score_delta=case["scores"]["delta"], success_delta=case["success"]["delta"],
                   retrieval_hit_rate=case.get("retrieval_hit_rate"))  # fmt: skip
    return row


def report_build(*, meta: dict[str, Any], sampled: list[dict[str, Any]],
                 cases: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The whole report: `meta` and `evaluation` as the original writes them."""
    return {
        "meta": meta,
        "evaluation": {
            "summary": summary,
            "sampled_scenarios": [c["scenario"] for c in cases] or sampled,
            "cases": cases,
            "case_analysis": [analysis_row(c) for c in cases],
        },
    }
