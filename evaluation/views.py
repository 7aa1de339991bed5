"""Staff-only HTML report of stored evaluation runs (`evaluate --save`)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from evaluation.models import EvaluationRun
from proxy.pages import csp


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-scenario rows; tolerant of reports written by older versions."""
    rows = []
    for case in (report.get("evaluation") or {}).get("cases") or []:
        scenario = case.get("scenario") or {}
        skills = ((case.get("evolution") or {}).get("skills")) or [
            {"id": i} for i in (case.get("evolution") or {}).get("skill_ids") or []
        ]
        rows.append({
            "id": scenario.get("id", "?"), "topic": scenario.get("topic", ""),
            "expect_extract": scenario.get("expect_extract"), "ok": case.get("ok"),
            "error": case.get("error"), "scores": case.get("scores") or {},
            "success": case.get("success") or {}, "skills": skills,
            "hit_rate": case.get("retrieval_hit_rate"),
        })  # fmt: skip
    return rows


@csp
@staff_member_required
def run_list_view(request: HttpRequest) -> HttpResponse:
    runs = EvaluationRun.objects.all()[:200]
    return render(request, "evaluation/run_list.html", {"runs": runs})


@csp
@staff_member_required
def run_detail_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(EvaluationRun, pk=run_id)
    summary = (run.report.get("evaluation") or {}).get("summary") or {}
    return render(
        request,
        "evaluation/run_detail.html",
        {"run": run, "meta": run.report.get("meta") or {}, "summary": summary,
         "metrics": summary.get("metrics") or {}, "rows": _rows(run.report)},
    )  # fmt: skip
