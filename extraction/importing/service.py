"""Run discovered conversations and trajectories through extraction, and report.

Each unit becomes one `extraction_ingest` call with its messages kept as messages
(never collapsed into one user turn) and its provenance in `source`. Re-running an
import resumes it: a window already processed for the user comes back as a
`duplicate` and is counted as skipped, not extracted again.

`concurrency` workers call extraction at once; results are counted on the calling
thread only, so `progress` callbacks (a progress bar) never race.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections

from autoskill_site.exceptions import InvalidInput, NotFound
from extraction.importing.conversations import ReadProblem, discover_conversations
from extraction.importing.trajectories import discover_trajectories
from extraction.services.run import IngestResult, extraction_ingest

__all__ = ["import_conversations", "import_trajectories"]

logger = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _Unit:
    file: str
    index: int
    title: str
    messages: list[dict[str, str]]
    events: list[dict[str, Any]]
    source: dict[str, Any]


@dataclass
class _Tally:
    """The report under construction; touched by the calling thread only."""

    kind: str
    path: str
    dry_run: bool
    files: list[str]
    total: int = 0
    processed: int = 0
    failed: int = 0
    skipped: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    skills: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)
    done: int = 0
    stopped: bool = False

    def __post_init__(self) -> None:
        for name in self.files:
            self._file(name)

    def _file(self, name: str) -> dict[str, int]:
        return self.per_file.setdefault(
            name,
            {"units": 0, "processed": 0, "failed": 0, "skipped": 0, "read_errors": 0},
        )

    def problem(self, problem: ReadProblem) -> None:
        self._file(problem.file)["read_errors"] += 1
        self.errors.append(problem.as_dict())

    def unit(self, unit: _Unit) -> None:
        self.total += 1
        self._file(unit.file)["units"] += 1

    def skip(self, unit: _Unit, reason: str) -> dict[str, Any]:
        self.skipped[reason] += 1
        self._file(unit.file)["skipped"] += 1
        return self._event(unit, "skipped", reason, [], "")

    def result(
        self, unit: _Unit, result: IngestResult | None, error: str
    ) -> dict[str, Any]:
        """Count one finished call; returns the progress event for it."""
        outcome = result.outcome if result is not None else "error"
        if result is not None and result.status == "failed" and not error:
            error = result.error or f"extraction {outcome}"
        elif result is not None and outcome == "error" and not error:
            error = result.error or "extraction error"
        self.outcomes[outcome] += 1
        if error:
            self.failed += 1
            self._file(unit.file)["failed"] += 1
            self.errors.append(
                {
                    "file": unit.file,
                    "index": unit.index,
                    "title": unit.title,
                    "error": error,
                }
            )
            return self._event(unit, "failed", outcome, [], error)
        if outcome == "duplicate":
            return self.skip(unit, "duplicate")
        self.processed += 1
        self._file(unit.file)["processed"] += 1
        skills = [dict(skill) for skill in result.skills] if result is not None else []
        for skill in skills:
            self.skills[str(skill["id"])] = (
                skill  # a later merge carries the newer version
            )
        return self._event(unit, "processed", outcome, skills, "")

    def _event(
        self, unit: _Unit, status: str, outcome: str, skills: list[dict], error: str
    ) -> dict[str, Any]:
        self.done += 1
        return {
            "index": self.done,
            "total": self.total,
            "file": unit.file,
            "title": unit.title,
            "status": status,
            "outcome": outcome,
            "skills": skills,
            "error": error,
        }

    def report(self, elapsed: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "dry_run": self.dry_run,
            "total": self.total,
            "processed": self.processed,
            "skipped": sum(self.skipped.values()),
            "skipped_reasons": dict(sorted(self.skipped.items())),
            "failed": self.failed,
            "read_errors": sum(f["read_errors"] for f in self.per_file.values()),
            "not_run": self.total - self.done,
            "stopped": self.stopped,
            "upserted_count": len(self.skills),
            "skills": list(self.skills.values()),
            "outcomes": dict(sorted(self.outcomes.items())),
            "errors": self.errors,
            "per_file": self.per_file,
            "elapsed_s": round(elapsed, 3),
        }


def _root(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise NotFound(f"{path} does not exist.")
    return root.resolve()


def _clean_hint(hint: str | None) -> str | None:
    # The original turned a missing hint into the string "None"; None stays None here.
    return (hint or "").strip() or None


def _check_concurrency(concurrency: int) -> None:
    if concurrency < 1:
        raise InvalidInput("concurrency must be 1 or more.")


def import_conversations(
    *,
    user: Any,
    path: str | Path,
    hint: str | None = None,
    max_messages: int = 0,
    concurrency: int = 1,
    continue_on_error: bool = True,
    dry_run: bool = False,
    llm: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Extract skills from every conversation in a `.json`/`.jsonl` file or directory.

    `max_messages` keeps the last N messages of each conversation (0 = all); a
    conversation left without a user turn is skipped as `empty`. With `dry_run`
    extraction decides but stores nothing. Raises NotFound for a missing
    path and InvalidInput for bad numbers; per-unit failures land in the report.
    """
    if max_messages < 0:
        raise InvalidInput("max_messages must be 0 (all) or more.")
    _check_concurrency(concurrency)
    root = _root(path)
    started = time.monotonic()
    discovery = discover_conversations(root, max_messages=max_messages)
    units = [
        _Unit(
            file=conv.source_file,
            index=conv.conversation_index,
            title=conv.title,
            messages=conv.messages,
            events=[],
            source={
                "kind": "conversation",
                "file": conv.source_file,
                "index": conv.conversation_index,
                "title": conv.title,
                **({"line": conv.line} if conv.line is not None else {}),
            },
        )
        for conv in discovery.units
    ]
    # Only user turns are evidence: a window without one (an assistant-only log, or
    # one clipped by max_messages) has nothing to learn from.
    skipped = {
        position: "empty"
        for position, unit in enumerate(units)
        if not any(m["role"] == "user" for m in unit.messages)
    }
    tally = _Tally(
        kind="conversations", path=str(root), dry_run=dry_run, files=discovery.files
    )
    return _run(
        tally=tally,
        problems=discovery.problems,
        units=units,
        skipped=skipped,
        user=user,
        trigger="import_conversation",
        hint=_clean_hint(hint),
        concurrency=concurrency,
        continue_on_error=continue_on_error,
        dry_run=dry_run,
        llm=llm,
        progress=progress,
        started=started,
    )


def import_trajectories(
    *,
    user: Any,
    path: str | Path,
    success_only: bool = True,
    include_tool_events: bool = True,
    hint: str | None = None,
    concurrency: int = 1,
    continue_on_error: bool = True,
    dry_run: bool = False,
    llm: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Extract workflow skills from agent trajectories in a file or directory.

    `success_only` skips runs that failed (counted as skipped, reason
    `unsuccessful`); `include_tool_events=False` passes neither tool events nor
    tool-role messages to extraction. A record with nothing left to learn from is
    skipped as `empty`.
    """
    _check_concurrency(concurrency)
    root = _root(path)
    started = time.monotonic()
    discovery = discover_trajectories(root, include_tool_events=include_tool_events)
    units: list[_Unit] = []
    skipped: dict[int, str] = {}
    for record in discovery.units:
        unit = _Unit(
            file=record.source_file,
            index=record.index,
            title=record.title,
            messages=record.messages,
            events=record.events,
            source={
                "kind": "trajectory",
                "file": record.source_file,
                "index": record.index,
                "title": record.title,
                "success": record.success,
                "has_events": bool(record.events),
                **({"line": record.line} if record.line is not None else {}),
            },
        )
        if success_only and not record.success:
            skipped[len(units)] = "unsuccessful"
        elif (
            not any(m["role"] == "user" for m in record.messages) and not record.events
        ):
            skipped[len(units)] = "empty"
        units.append(unit)
    tally = _Tally(
        kind="trajectories", path=str(root), dry_run=dry_run, files=discovery.files
    )
    return _run(
        tally=tally,
        problems=discovery.problems,
        units=units,
        skipped=skipped,
        user=user,
        trigger="import_trajectory",
        hint=_clean_hint(hint),
        concurrency=concurrency,
        continue_on_error=continue_on_error,
        dry_run=dry_run,
        llm=llm,
        progress=progress,
        started=started,
    )


def _run(
    *,
    tally: _Tally,
    problems: list[ReadProblem],
    units: list[_Unit],
    skipped: dict[int, str],
    user: Any,
    trigger: str,
    hint: str | None,
    concurrency: int,
    continue_on_error: bool,
    dry_run: bool,
    llm: Any,
    progress: Progress | None,
    started: float,
) -> dict[str, Any]:
    for problem in problems:
        tally.problem(problem)
    for unit in units:
        tally.unit(unit)
    if problems and not continue_on_error:
        # An unreadable input is the first error: nothing is scheduled after it.
        tally.stopped = True
        return tally.report(time.monotonic() - started)

    def emit(event: dict[str, Any]) -> None:
        if progress is not None:
            progress(event)

    def call(unit: _Unit) -> tuple[IngestResult | None, str]:
        try:
            result = extraction_ingest(
                user=user,
                messages=unit.messages,
                events=unit.events,
                hint=hint,
                trigger=trigger,
                source=unit.source,
                llm=llm,
                simulate=dry_run,
            )
        except Exception as exc:  # noqa: BLE001 - one bad unit must not end the import
            logger.warning("Import of %s failed", unit.title, exc_info=True)
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()  # worker threads would otherwise leak connections
        return result, ""

    todo: Iterator[_Unit] = iter(
        [unit for position, unit in enumerate(units) if position not in skipped]
    )
    for position, reason in sorted(skipped.items()):
        emit(tally.skip(units[position], reason))

    def finish(unit: _Unit, outcome: tuple[IngestResult | None, str]) -> None:
        before = tally.failed
        emit(tally.result(unit, *outcome))
        if tally.failed > before and not continue_on_error:
            tally.stopped = True

    if concurrency == 1:
        for unit in todo:
            finish(unit, call(unit))
            if tally.stopped:
                break
        return tally.report(time.monotonic() - started)

    with ThreadPoolExecutor(
        max_workers=concurrency, thread_name_prefix="import"
    ) as pool:
        # At most `concurrency` units are in flight, so a stop takes effect quickly.
        in_flight: dict[Future, _Unit] = {}

        def submit() -> bool:
            unit = next(todo, None)
            if unit is None:
                return False
            in_flight[pool.submit(call, unit)] = unit
            return True

        while len(in_flight) < concurrency and submit():
            pass
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                finish(in_flight.pop(future), future.result())
            while not tally.stopped and len(in_flight) < concurrency and submit():
                pass
    return tally.report(time.monotonic() - started)
