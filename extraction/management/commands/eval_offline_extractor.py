"""python manage.py eval_offline_extractor [PATH] [--json]

Scores the offline heuristic extractor on a labelled conversation set (by default the
checked-in extraction/evaluation/offline_conversations.jsonl).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from extraction.evaluation.offline_eval import DEFAULT_SET, evaluate_offline


class Command(BaseCommand):
    help = "Measure the offline extractor's precision/recall on a labelled JSONL set."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", default=str(DEFAULT_SET), help="labelled JSONL set"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the full report as JSON"
        )

    def handle(self, *args, **options) -> None:
        path = Path(options["path"]).expanduser()
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            report = evaluate_offline(path)
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"Offline extractor on {path.name}: {report['cases']} conversations, "
            f"{report['positives']} expect a skill"
        )
        self.stdout.write(f"{'':8}{'precision':>10}{'recall':>8}{'f1':>8}{'cases':>7}")
        rows = [("overall", report), *report["by_lang"].items()]
        for label, scores in rows:
            self.stdout.write(
                f"{label:8}{scores['precision']:>10.3f}{scores['recall']:>8.3f}"
                f"{scores['f1']:>8.3f}{scores['cases']:>7}"
            )
        rate = report["keyword_hit_rate"]
        shown = "n/a" if rate is None else f"{rate:.3f}"
        self.stdout.write(f"Keyword hit rate on true positives: {shown}")
        missed = ", ".join(report["misclassified"]) or "none"
        self.stdout.write(f"Misclassified: {missed}")
        if report["invalid"]:
            self.stdout.write(f"Invalid candidates: {', '.join(report['invalid'])}")
