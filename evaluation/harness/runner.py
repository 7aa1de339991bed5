"""The `evolution` strategy per case, the metrics and the report (ref-server.md §6.4, §6.6).

Per case: baseline answers as a fresh user, training turns as an evolving user (each
reply may schedule extraction), a bounded wait for those jobs, post-evolution answers as
the evolving user; both stages judged against the scenario's requirement contract.
"""

from __future__ import annotations

import json
import random
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.harness.client import ProxyClient
from evaluation.harness.roles import RoleLLM, judge_answer, simulate_turns

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios.json"
BENCH_SYSTEM = "Independent benchmark mode: answer the user's request directly."


@dataclass(frozen=True)
class EvalOptions:
    """Everything a run needs besides the server and the role models."""

    runs: int
    seed: int
    stream: bool
    model: str
    user_prefix: str
    max_train_turns: int
    extraction_timeout_s: float
    poll_interval_s: float
    threshold: float
    scenario_ids: tuple[str, ...] = ()


def scenarios_load(*, path: Path = SCENARIOS) -> list[dict[str, Any]]:
    """The scenario bank, in file order."""
    return list(json.loads(path.read_text(encoding="utf-8"))["scenarios"])


def scenarios_sample(*, bank: list[dict[str, Any]], runs: int, seed: int,
                     ids: tuple[str, ...] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """A seeded shuffle taken cyclically up to `runs` cases (or the named ones)."""
    if ids:
        by_id = {s["id"]: s for s in bank}
        return [by_id[i] for i in ids]
    order = list(bank)
    random.Random(seed).shuffle(order)  # noqa: S311 - a reproducible sample, not a secret
    return [order[i % len(order)] for i in range(runs)]


def _stage(*, client: ProxyClient, judge: RoleLLM | None, opts: EvalOptions, user: str,
           scenario: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    items = []
    for query in scenario["reuse_queries"][:2]:
        messages = [
            {"role": "system", "content": BENCH_SYSTEM},
            {"role": "user", "content": query},
        ]
        result = client.chat(
            model=opts.model, user=user, messages=messages, stream=opts.stream
        )
        verdict = judge_answer(llm=judge, query=query, answer=result.content,
                               contract=scenario["contract"], threshold=opts.threshold)  # fmt: skip
        items.append({"query": query, "answer": result.content,
                      "autoskill": result.autoskill, "judge": verdict})  # fmt: skip
    scores = [i["judge"]["score"] for i in items]
    rate = sum(1 for i in items if i["judge"]["success"]) / len(items) if items else 0.0
    return {
        "answer": items[0]["answer"] if items else "",
        "autoskill": items[0]["autoskill"] if items else {},
        "items": items,
        "judge": {"score": round(sum(scores) / len(scores), 2) if scores else 0.0,
                  "success": rate >= 0.5, "success_rate": rate, "query_count": len(items),
                  "reason": "; ".join(i["judge"]["reason"] for i in items)},
    }  # fmt: skip


def _evolve(*, client: ProxyClient, opts: EvalOptions, user: str,
            turns: list[str]) -> dict[str, Any]:  # fmt: skip
    history: list[dict[str, str]] = []
    train, job_ids = [], []
    for index, text in enumerate(turns, start=1):
        history.append({"role": "user", "content": text})
        result = client.chat(
            model=opts.model, user=user, messages=list(history), stream=opts.stream
        )
        history.append({"role": "assistant", "content": result.content})
        extraction = result.autoskill.get("extraction") or {}
        train.append({"turn_index": index, "user": text, "assistant": result.content,
                      "autoskill": {"retrieval": result.autoskill.get("retrieval"),
                                    "extraction": {"job_id": extraction.get("job_id"),
                                                   "status": extraction.get("status")}}})  # fmt: skip
        if extraction.get("job_id") and extraction["job_id"] not in job_ids:
            job_ids.append(extraction["job_id"])
    events, skill_ids = {}, []
    for job_id in job_ids:
        job = client.job_wait(job_id=job_id, user=user, timeout_s=opts.extraction_timeout_s,
                              poll_s=opts.poll_interval_s)  # fmt: skip
        events[job_id] = {"status": job.get("status"), "outcome": job.get("outcome"),
                          "upserted": job.get("upserted") or []}  # fmt: skip
        if job.get("status") == "completed":
            skill_ids += [
                str(s["id"]) for s in job.get("upserted") or [] if s.get("id")
            ]
    upserted = [s for e in events.values() for s in e["upserted"]]
    return {"train_turns": train, "job_ids": job_ids, "events_by_job": events,
            "upserted_total": len(upserted), "skill_ids": list(dict.fromkeys(skill_ids)),
            "skills": list({str(s["id"]): s for s in upserted if s.get("id")}.values())}  # fmt: skip


def _hit_rate(*, stage: dict[str, Any], skill_ids: list[str]) -> float | None:
    """Share of reuse queries whose retrieval hits included a learned skill."""
    if not skill_ids or not stage["items"]:
        return None
    hits = 0
    for item in stage["items"]:
        found = ((item["autoskill"] or {}).get("retrieval") or {}).get("hits") or []
        hits += any(str(h.get("id")) in skill_ids for h in found)
    return hits / len(stage["items"])


def case_run(*, client: ProxyClient, simulator: RoleLLM | None, judge: RoleLLM | None,
             opts: EvalOptions, scenario: dict[str, Any], nonce: str) -> dict[str, Any]:  # fmt: skip
    """One scenario through the evolution flow; an exception marks the case not ok."""
    started = time.monotonic()
    base = f"{opts.user_prefix}_{scenario['id']}_{nonce}_base"
    evo = f"{opts.user_prefix}_{scenario['id']}_{nonce}_evo"
    turns, source = simulate_turns(
        llm=simulator, scenario=scenario, max_turns=opts.max_train_turns
    )
    case: dict[str, Any] = {
        "scenario": {**scenario, "source": source, "turns_seed": scenario["turns"],
                     "turns_final": turns, "reuse_query": scenario["reuse_queries"][0]},
        "users": {"baseline_user": base, "evolved_user": evo},
        "requirement_contract": scenario["contract"],
        "evaluation_query": scenario["reuse_queries"][0],
        "evaluation_queries": scenario["reuse_queries"][:2],
        "ok": False, "error": None,
    }  # fmt: skip
    try:
        case["baseline"] = _stage(
            client=client, judge=judge, opts=opts, user=base, scenario=scenario
        )
        case["evolution"] = _evolve(client=client, opts=opts, user=evo, turns=turns)
        post = _stage(
            client=client, judge=judge, opts=opts, user=evo, scenario=scenario
        )
        case["post_evolution"] = post
    except Exception as exc:  # noqa: BLE001 - one broken case must not end the run
        case["error"] = f"{type(exc).__name__}: {exc}"
        case["traceback"] = traceback.format_exc(limit=5)
        case["elapsed_s"] = round(time.monotonic() - started, 3)
        return case
    before, after = case["baseline"]["judge"], post["judge"]
    case.update(
        ok=True,
        success={"before": before["success"], "after": after["success"],
                 "delta": int(after["success"]) - int(before["success"])},
        scores={"before": before["score"], "after": after["score"],
                "delta": round(after["score"] - before["score"], 2)},
        retrieval_hit_rate=_hit_rate(stage=post, skill_ids=case["evolution"]["skill_ids"]),
        elapsed_s=round(time.monotonic() - started, 3),
    )  # fmt: skip
    return case
