"""Run discovered conversations and trajectories through extraction, and report.

Each unit becomes one `extraction_ingest` call with its messages kept as messages
(never collapsed into one user turn) and its provenance in `source`. Re-running an
import resumes it: a window already processed for the user comes back as a
`duplicate` and is counted as skipped, not extracted again.

This module decides what each kind of import runs and skips; `runner` runs it
(`concurrency` workers at once) and `tally` builds the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoskill_site.exceptions import InvalidInput
from extraction.importing.conversations import discover_conversations
from extraction.importing.runner import ImportOptions, Progress, run_import
from extraction.importing.tally import ImportPlan, has_user_turn, import_unit
from extraction.importing.trajectories import discover_trajectories

__all__ = ["import_conversations", "import_trajectories"]


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
    options = ImportOptions(
        user=user,
        hint=hint,
        concurrency=concurrency,
        continue_on_error=continue_on_error,
        dry_run=dry_run,
        llm=llm,
        progress=progress,
    )

    def plan(root: Path) -> ImportPlan:
        discovery = discover_conversations(root, max_messages=max_messages)
        units = [
            import_unit(
                kind="conversation",
                file=conv.source_file,
                index=conv.conversation_index,
                title=conv.title,
                messages=conv.messages,
                events=[],
                line=conv.line,
            )
            for conv in discovery.units
        ]
        # A window without a user turn (an assistant-only log, or one clipped by
        # max_messages) has nothing to learn from.
        skipped = {
            position: "empty"
            for position, unit in enumerate(units)
            if not has_user_turn(unit.messages)
        }
        return ImportPlan(discovery.files, discovery.problems, units, skipped)

    return run_import(
        options,
        kind="conversations",
        trigger="import_conversation",
        path=path,
        plan=plan,
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
    options = ImportOptions(
        user=user,
        hint=hint,
        concurrency=concurrency,
        continue_on_error=continue_on_error,
        dry_run=dry_run,
        llm=llm,
        progress=progress,
    )

    def plan(root: Path) -> ImportPlan:
        discovery = discover_trajectories(root, include_tool_events=include_tool_events)
        units = []
        skipped: dict[int, str] = {}
        for record in discovery.units:
            if success_only and not record.success:
                skipped[len(units)] = "unsuccessful"
            elif not has_user_turn(record.messages) and not record.events:
                skipped[len(units)] = "empty"
            units.append(
                import_unit(
                    kind="trajectory",
                    file=record.source_file,
                    index=record.index,
                    title=record.title,
                    messages=record.messages,
                    events=record.events,
                    line=record.line,
                    success=record.success,
                    has_events=bool(record.events),
                )
            )
        return ImportPlan(discovery.files, discovery.problems, units, skipped)

    return run_import(
        options, kind="trajectories", trigger="import_trajectory", path=path, plan=plan
    )
