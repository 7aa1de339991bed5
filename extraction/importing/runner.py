"""Run an import plan through `extraction_ingest`, one unit per call, and tally the report.

`concurrency` workers call extraction at once; results are counted on the calling
thread only, so `progress` callbacks (a progress bar) never race.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections

from autoskill_site.exceptions import InvalidInput, NotFound
from extraction.importing.tally import ImportPlan, ImportTally, ImportUnit
from extraction.services.run import IngestResult, extraction_ingest

__all__ = ["ImportOptions", "Progress", "run_import"]

logger = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
Outcome = tuple[IngestResult | None, str]


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """How every unit of one import is run; both importers take these the same way."""

    user: Any
    hint: str | None
    concurrency: int
    continue_on_error: bool
    dry_run: bool
    llm: Any
    progress: Progress | None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InvalidInput("concurrency must be 1 or more.")

    @property
    def clean_hint(self) -> str | None:
        # The original turned a missing hint into the string "None"; None stays None here.
        return (self.hint or "").strip() or None

    def emit(self, event: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress(event)


def _root(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise NotFound(f"{path} does not exist.")
    return root.resolve()


def run_import(
    options: ImportOptions,
    *,
    kind: str,
    trigger: str,
    path: str | Path,
    plan: Callable[[Path], ImportPlan],
) -> dict[str, Any]:
    """Discover with `plan`, run every unit not skipped, and return the report.

    Raises NotFound for a missing `path`; per-unit failures land in the report.
    """
    root = _root(path)
    started = time.monotonic()
    planned = plan(root)
    tally = ImportTally(
        kind=kind, path=str(root), dry_run=options.dry_run, files=planned.files
    )
    for problem in planned.problems:
        tally.problem(problem)
    for unit in planned.units:
        tally.unit(unit)
    if planned.problems and not options.continue_on_error:
        # An unreadable input is the first error: nothing is scheduled after it.
        tally.stopped = True
        return tally.report(time.monotonic() - started)
    todo: Iterator[ImportUnit] = iter(
        [
            u
            for position, u in enumerate(planned.units)
            if position not in planned.skipped
        ]
    )
    for position, reason in sorted(planned.skipped.items()):
        options.emit(tally.skip(planned.units[position], reason))
    call = _caller(options, trigger=trigger)

    def finish(unit: ImportUnit, outcome: Outcome) -> None:
        before = tally.failed
        options.emit(tally.result(unit, *outcome))
        if tally.failed > before and not options.continue_on_error:
            tally.stopped = True

    if options.concurrency == 1:
        for unit in todo:
            finish(unit, call(unit))
            if tally.stopped:
                break
    else:
        _run_pool(todo, call, finish, tally=tally, workers=options.concurrency)
    return tally.report(time.monotonic() - started)


def _caller(options: ImportOptions, *, trigger: str) -> Callable[[ImportUnit], Outcome]:
    hint = options.clean_hint

    def call(unit: ImportUnit) -> Outcome:
        try:
            result = extraction_ingest(
                user=options.user,
                messages=unit.messages,
                events=unit.events,
                hint=hint,
                trigger=trigger,
                source=unit.source,
                llm=options.llm,
                simulate=options.dry_run,
            )
        except Exception as exc:  # noqa: BLE001 - one bad unit must not end the import
            logger.warning("Import of %s failed", unit.title, exc_info=True)
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()  # worker threads would otherwise leak connections
        return result, ""

    return call


def _run_pool(
    todo: Iterator[ImportUnit],
    call: Callable[[ImportUnit], Outcome],
    finish: Callable[[ImportUnit, Outcome], None],
    *,
    tally: ImportTally,
    workers: int,
) -> None:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
        # At most `workers` units are in flight, so a stop takes effect quickly.
        in_flight: dict[Future, ImportUnit] = {}

        def submit() -> bool:
            unit = next(todo, None)
            if unit is None:
                return False
            in_flight[pool.submit(call, unit)] = unit
            return True

        while len(in_flight) < workers and submit():
            pass
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                finish(in_flight.pop(future), future.result())
            while not tally.stopped and len(in_flight) < workers and submit():
                pass
