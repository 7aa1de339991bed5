"""`manage.py evaluate`: measure whether answers improve as skills are learned.

Thin: parses flags (ours and the original's spellings), builds the client and roles,
runs the cases, writes the report, optionally stores it for the staff pages.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx2
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.harness.client import EvalHTTPError, ProxyClient
from evaluation.harness.report import report_build, summary_build
from evaluation.harness.roles import role_llm
from evaluation.harness.runner import (
    EvalOptions,
    case_run,
    scenarios_load,
    scenarios_sample,
)


def _positive(kind: type, name: str):  # noqa: ANN202
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a number, not {text!r}"
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


class Command(BaseCommand):
    help = (
        "Evaluate skill learning against a running server (strategy `evolution`): "
        "baseline answers, training turns with extraction, post-evolution answers, "
        "judged against each scenario's requirement contract. Offline by default."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        env = os.environ.get
        parser.add_argument("--mode", choices=["eval"], default="eval")
        parser.add_argument(
            "--strategy", "--eval-strategy", choices=["evolution"], default="evolution"
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--api-key", default=env("AUTOSKILL_EVAL_API_KEY", ""),
                            help="A service key (it acts for the per-case users).")  # fmt: skip
        parser.add_argument(
            "--model", default="", help="Empty: data[0].id of GET /v1/models."
        )
        parser.add_argument(
            "--timeout-s", type=_positive(float, "--timeout-s"), default=25.0
        )
        parser.add_argument(
            "--runs", "--eval-runs", type=_positive(int, "--runs"), default=32
        )
        parser.add_argument("--seed", "--eval-seed", type=int, default=42)
        parser.add_argument("--scenario", action="append", default=[], dest="scenarios",
                            help="Run only this scenario id (repeatable).")  # fmt: skip
        parser.add_argument("--user-prefix", "--eval-user-prefix", default="proxy_eval")
        parser.add_argument("--max-train-turns", "--eval-max-train-turns",
                            type=_positive(int, "--max-train-turns"), default=10)  # fmt: skip
        parser.add_argument("--stream", "--eval-stream", action="store_true")
        parser.add_argument("--turn-timeout-s", "--eval-turn-timeout-s",
                            type=_positive(float, "--turn-timeout-s"), default=240.0)  # fmt: skip
        parser.add_argument("--extraction-timeout-s", "--eval-extraction-timeout-s",
                            type=_positive(float, "--extraction-timeout-s"), default=360.0)  # fmt: skip
        parser.add_argument("--poll-interval-s", "--eval-poll-interval-s",
                            type=_positive(float, "--poll-interval-s"), default=0.8)  # fmt: skip
        parser.add_argument("--strict-eval", action="store_true",
                            help="Fail when sr_after < sr_before or the average score drops.")  # fmt: skip
        for role in ("sim", "judge"):
            upper = role.upper()
            parser.add_argument(f"--{role}-provider", default=env(f"EVAL_{upper}_PROVIDER", "offline"),
                                help="offline|mock (rules), proxy, openai, qwen, glm, internlm, generic.")  # fmt: skip
            parser.add_argument(
                f"--{role}-model", default=env(f"EVAL_{upper}_MODEL", "")
            )
            parser.add_argument(
                f"--{role}-api-key", default=env(f"EVAL_{upper}_API_KEY", "")
            )
            parser.add_argument(
                f"--{role}-base-url", default=env(f"EVAL_{upper}_BASE_URL", "")
            )
        parser.add_argument("--judge-success-threshold", type=float, default=70.0)
        parser.add_argument("--report-json", default="",
                            help="Default: var/eval_reports/evaluate_report_<unix>.json")  # fmt: skip
        parser.add_argument("--save", action="store_true",
                            help="Also store the report in this site's database (staff pages).")  # fmt: skip

    def handle(self, *args: Any, **o: Any) -> None:
        if not 0 <= o["judge_success_threshold"] <= 100:
            raise CommandError("--judge-success-threshold must be between 0 and 100.")
        bank = scenarios_load()
        unknown = sorted(set(o["scenarios"]) - {s["id"] for s in bank})
        if unknown:
            raise CommandError(f"Unknown scenario id(s): {', '.join(unknown)}.")
        client = ProxyClient(base_url=o["base_url"], api_key=o["api_key"],
                             timeout_s=o["timeout_s"], turn_timeout_s=o["turn_timeout_s"])  # fmt: skip
        try:
            self._run(client, bank, o)
        except EvalHTTPError as exc:
            raise CommandError(exc.message) from None
        except httpx2.HTTPError as exc:
            raise CommandError(
                f"Could not reach the server at {client.base_url}: {exc}"
            ) from None
        finally:
            client.close()

    def _run(
        self, client: ProxyClient, bank: list[dict[str, Any]], o: dict[str, Any]
    ) -> None:
        started = time.monotonic()
        model = o["model"] or client.model_default()
        roles = {
            role: role_llm(provider=o[f"{role}_provider"], model=o[f"{role}_model"],
                           api_key=o[f"{role}_api_key"], base_url=o[f"{role}_base_url"],
                           proxy_url=client.base_url, proxy_key=o["api_key"],
                           proxy_model=model, timeout_s=o["timeout_s"])
            for role in ("sim", "judge")
        }  # fmt: skip
        opts = EvalOptions(
            runs=o["runs"], seed=o["seed"], stream=o["stream"], model=model,
            user_prefix=o["user_prefix"], max_train_turns=o["max_train_turns"],
            extraction_timeout_s=o["extraction_timeout_s"], poll_interval_s=o["poll_interval_s"],
            threshold=o["judge_success_threshold"], scenario_ids=tuple(o["scenarios"]),
        )  # fmt: skip
        sampled = scenarios_sample(
            bank=bank, runs=opts.runs, seed=opts.seed, ids=opts.scenario_ids
        )
        # Fresh users every run (the nonce), so one run never sees another's skills.
        nonce = f"r{int(time.time())}_{random.SystemRandom().randrange(10_000):04d}"
        cases = []
        for index, scenario in enumerate(sampled):
            case = case_run(client=client, simulator=roles["sim"], judge=roles["judge"],
                            opts=opts, scenario=scenario, nonce=f"{nonce}_{index}")  # fmt: skip
            state = "ok" if case["ok"] else f"FAILED ({case['error']})"
            self.stdout.write(f"[{index + 1}/{len(sampled)}] {scenario['id']}: {state}")
            cases.append(case)
        summary = summary_build(cases=cases, threshold=opts.threshold,
                                elapsed_s=time.monotonic() - started)  # fmt: skip
        meta = {"base_url": client.base_url, "mode": "eval", "eval_strategy": "evolution",
                "model": model, "time_unix": int(time.time()), "seed": opts.seed,
                "runs": len(sampled), "stream": opts.stream,
                "simulator": o["sim_provider"], "judge": o["judge_provider"]}  # fmt: skip
        report = report_build(meta=meta, sampled=sampled, cases=cases, summary=summary)
        path = Path(
            o["report_json"]
            or f"var/eval_reports/evaluate_report_{meta['time_unix']}.json"
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
            )
            with path.with_name(f"{path.stem}_analysis.jsonl").open(
                "w", encoding="utf-8"
            ) as out:
                for row in report["evaluation"]["case_analysis"]:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CommandError(f"Could not write the report to {path}: {exc}") from None
        if o["save"]:
            from evaluation.services import evaluation_run_create

            run = evaluation_run_create(report=report)
            self.stdout.write(
                f"Stored as evaluation run #{run.pk} (/evaluations/{run.pk}/)."
            )
        m = summary["metrics"]
        self.stdout.write(json.dumps({k: m[k] for k in ("sr_before", "sr_after", "sr_uplift_abs",
                                      "avg_score_before", "avg_score_after",
                                      "extraction_case_rate", "extraction_precision",
                                      "retrieval_hit_rate")}))  # fmt: skip
        self.stdout.write(f"Report: {path}")
        if (
            o["strict_eval"]
            and summary["ok_cases"]
            and (
                m["sr_after"] < m["sr_before"]
                or (m["avg_score_after"] or 0) < (m["avg_score_before"] or 0)
            )
        ):
            raise CommandError(
                "Strict evaluation failed: the scores went down after learning."
            )
