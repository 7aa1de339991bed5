"""Writes of the evaluation app."""

from __future__ import annotations

from typing import Any

from evaluation.models import EvaluationRun


def evaluation_run_create(*, report: dict[str, Any]) -> EvaluationRun:
    """Store a finished report with the few numbers the list page shows."""
    meta, summary = report["meta"], report["evaluation"]["summary"]
    run = EvaluationRun(
        base_url=str(meta.get("base_url", ""))[:500],
        model=str(meta.get("model", ""))[:200],
        seed=int(meta.get("seed", 0)),
        total_cases=int(summary.get("total_cases", 0)),
        sr_before=summary["metrics"].get("sr_before"),
        sr_after=summary["metrics"].get("sr_after"),
        report=report,
    )
    run.full_clean()
    run.save()
    return run
