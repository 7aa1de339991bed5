"""python manage.py import_conversations FILE_OR_DIR --user U [--hint TEXT] [--max-messages N]
[--concurrency N] [--continue-on-error [1|0]] [--dry-run] [--report FILE.json]
[--llm-provider P] [--llm-model M] [--embeddings-provider E]

The original's spellings work too: --file PATH, --user-id U, --max-messages-per-conversation N.
`ImportCommand` here is shared with import_trajectories.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from accounts.selectors import user_for_command
from autoskill_site.exceptions import ApplicationError
from autoskill_site.providers.embeddings import EmbeddingError, embedder_from_settings
from autoskill_site.providers.llm import LLMClient, LLMPurpose
from autoskill_site.providers.llm_config import llm_from_settings
from extraction.importing.service import import_conversations

SHOWN_ERRORS = 20
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def flag(value: str) -> bool:
    """argparse type for `--option 1|0` (also true/false, yes/no)."""
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected 1 or 0, got {value!r}")


def add_flag(parser: CommandParser, name: str, *, help: str) -> None:
    """An on-by-default `--name [1|0]` option; a bare `--name` also means 1."""
    parser.add_argument(
        name, nargs="?", const=True, default=True, type=flag, metavar="1|0", help=help
    )


def _whole_number(value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {value!r}"
        ) from None
    if number < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {number}")
    return number


def non_negative(value: str) -> int:
    return _whole_number(value, 0)


def positive(value: str) -> int:
    return _whole_number(value, 1)


class ImportCommand(BaseCommand):
    """Argument parsing, provider overrides, progress and reporting shared by the importers."""

    unit = "unit"
    units = "units"

    def add_common_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", help="a .json/.jsonl file or a directory"
        )
        parser.add_argument("--file", dest="file", help="same as the positional path")
        parser.add_argument(
            "--user",
            "--user-id",
            dest="user",
            required=True,
            help="username to learn for",
        )
        parser.add_argument("--hint", help="what to focus on (passed to extraction)")
        parser.add_argument("--llm-provider", help="override AUTOSKILL_LLM_PROVIDER")
        parser.add_argument("--llm-model", help="override the extraction model")
        parser.add_argument(
            "--embeddings-provider",
            help="override AUTOSKILL_EMBEDDINGS_PROVIDER for this run (local, openai, hashing, none)",
        )
        parser.add_argument(
            "--concurrency",
            type=positive,
            default=1,
            help="extractions at once (default 1)",
        )
        add_flag(
            parser,
            "--continue-on-error",
            help="keep going after a failed unit (default 1; 0 stops at the first error)",
        )
        parser.add_argument(
            "--stop-on-error",
            dest="continue_on_error",
            action="store_false",
            help="same as --continue-on-error 0",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="decide, but store nothing"
        )
        parser.add_argument(
            "--report", metavar="FILE.json", help="also write the report here"
        )
        parser.add_argument("--no-progress", action="store_true")

    # -- running ---------------------------------------------------------------

    def run_import(
        self,
        options: dict[str, Any],
        importer: Callable[..., dict[str, Any]],
        **extra: Any,
    ) -> None:
        path = self._path(options)
        user = user_for_command(options["user"])
        llm = self._llm(options)
        previous = settings.AUTOSKILL_EMBEDDINGS_PROVIDER
        try:
            self._embeddings(options)
            report = self._with_progress(
                options,
                lambda progress: importer(
                    user=user,
                    path=path,
                    hint=options["hint"],
                    concurrency=options["concurrency"],
                    continue_on_error=options["continue_on_error"],
                    dry_run=options["dry_run"],
                    llm=llm,
                    progress=progress,
                    **extra,
                ),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finally:
            settings.AUTOSKILL_EMBEDDINGS_PROVIDER = previous
        self._print(report, root=path)
        if options["report"]:
            self._write(report, options["report"])
        if report["stopped"]:
            raise CommandError("Stopped at the first error (--continue-on-error 0).")
        if (report["failed"] or report["read_errors"]) and not (
            report["processed"] or report["skipped"]
        ):
            raise CommandError(
                f"Nothing was imported: every {self.unit} or file failed."
            )
        if not report["total"] and not report["read_errors"]:
            self.stderr.write(f"No {self.units} found in {path}.")

    def _path(self, options: dict[str, Any]) -> Path:
        given = [value for value in (options["path"], options["file"]) if value]
        if not given:
            raise CommandError(
                "Give the file or directory to import (FILE_OR_DIR or --file)."
            )
        if (
            len(given) == 2
            and Path(given[0]).expanduser().resolve()
            != Path(given[1]).expanduser().resolve()
        ):
            raise CommandError(
                "Give the path once: either FILE_OR_DIR or --file, not both."
            )
        path = Path(given[0]).expanduser()
        if not path.exists():
            raise CommandError(f"{given[0]} does not exist.")
        return path.resolve()

    @staticmethod
    def _llm(options: dict[str, Any]) -> LLMClient | None:
        if not options["llm_provider"] and not options["llm_model"]:
            return None  # extraction builds the configured client itself
        try:
            return llm_from_settings(
                LLMPurpose.EXTRACTION,
                provider=options["llm_provider"] or None,
                model=options["llm_model"] or None,
            )
        except (ImproperlyConfigured, ValueError) as exc:
            raise CommandError(f"Cannot use that LLM: {exc}") from exc

    @staticmethod
    def _embeddings(options: dict[str, Any]) -> None:
        provider = options["embeddings_provider"]
        if not provider:
            return
        # Set before anything builds an embedder: retrieval reads this setting each
        # time it builds one, so the whole run (and only the run) uses it.
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = provider.strip().lower()
        try:
            embedder_from_settings()
        except (ImproperlyConfigured, EmbeddingError, ValueError) as exc:
            raise CommandError(
                f"Cannot use embeddings provider {provider!r}: {exc}"
            ) from exc

    def _with_progress(
        self, options: dict[str, Any], run: Callable[[Callable], dict[str, Any]]
    ) -> dict[str, Any]:
        verbose = options["verbosity"] >= 2
        # disable=None: a bar on a terminal, nothing in logs and pipes.
        bar = tqdm(
            unit=self.unit,
            file=sys.stderr,
            disable=True if options["no_progress"] else None,
        )

        def progress(event: dict[str, Any]) -> None:
            if bar.total != event["total"]:
                bar.total = event["total"]
                bar.refresh()
            bar.update(1)
            if verbose or event["status"] == "failed":
                names = ", ".join(s["name"] for s in event["skills"]) or "no skills"
                detail = event["error"] if event["status"] == "failed" else names
                line = f"[{event['index']}/{event['total']}] {event['title']} -> {event['outcome']}: {detail}"
                if bar.disable:
                    self.stderr.write(line)
                else:
                    bar.write(line, file=sys.stderr)

        with bar:
            return run(progress)

    # -- reporting -------------------------------------------------------------

    def _print(self, report: dict[str, Any], *, root: Path) -> None:
        for file, counts in report["per_file"].items():
            shown = (
                Path(file).relative_to(root)
                if Path(file).is_relative_to(root) and Path(file) != root
                else Path(file).name
            )
            self.stdout.write(
                f"{shown}: {self.units}={counts['units']} processed={counts['processed']} "
                f"skipped={counts['skipped']} failed={counts['failed']} read_errors={counts['read_errors']}"
            )
        for error in report["errors"][:SHOWN_ERRORS]:
            if error.get("line"):
                where = f" line {error['line']}"
            elif error.get("index") is not None:
                where = f" {error.get('title') or '#' + str(error['index'])}"
            else:
                where = ""
            self.stderr.write(f"error: {error['file']}{where}: {error['error']}")
        if len(report["errors"]) > SHOWN_ERRORS:
            self.stderr.write(
                f"... and {len(report['errors']) - SHOWN_ERRORS} more errors (see the report)"
            )
        summary = (
            f"{report['total']} {self.units}: {report['processed']} processed, "
            f"{report['skipped']} skipped, {report['failed']} failed; "
            f"{report['upserted_count']} skills upserted in {report['elapsed_s']:.1f}s"
            + (" (dry run: nothing stored)" if report["dry_run"] else "")
        )
        ok = (
            not report["failed"] and not report["read_errors"] and not report["stopped"]
        )
        self.stdout.write(
            self.style.SUCCESS(summary) if ok else self.style.WARNING(summary)
        )
        self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))

    @staticmethod
    def _write(report: dict[str, Any], target: str) -> None:
        path = Path(target).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
        except OSError as exc:
            raise CommandError(f"Cannot write the report to {target}: {exc}") from exc


class Command(ImportCommand):
    help = "Learn skills from archived OpenAI-format conversations (.json, .jsonl or a directory)."
    unit = "conversation"
    units = "conversations"

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_common_arguments(parser)
        parser.add_argument(
            "--max-messages",
            "--max-messages-per-conversation",
            dest="max_messages",
            type=non_negative,
            default=0,
            help="keep the last N messages of each conversation (0 = all)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.run_import(
            options, import_conversations, max_messages=options["max_messages"]
        )
