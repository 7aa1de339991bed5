"""What an import runs (units and the plan of them) and the report it builds as it goes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from extraction.importing.reading import ReadProblem
from extraction.services.run import IngestResult

__all__ = ["ImportPlan", "ImportTally", "ImportUnit", "has_user_turn", "import_unit"]


@dataclass(frozen=True)
class ImportUnit:
    """One extraction call: a conversation or a trajectory with its provenance."""

    file: str
    index: int
    title: str
    messages: list[dict[str, str]]
    events: list[dict[str, Any]]
    source: dict[str, Any]


def import_unit(
    *,
    kind: str,
    file: str,
    index: int,
    title: str,
    messages: list[dict[str, str]],
    events: list[dict[str, Any]],
    line: int | None,
    **provenance: Any,
) -> ImportUnit:
    """A unit whose `source` names where it came from, plus any `provenance` of its kind."""
    source = {"kind": kind, "file": file, "index": index, "title": title}
    source.update(provenance)
    if line is not None:
        source["line"] = line
    return ImportUnit(
        file=file,
        index=index,
        title=title,
        messages=messages,
        events=events,
        source=source,
    )


def has_user_turn(messages: list[dict[str, str]]) -> bool:
    """Only user turns are evidence an extraction may learn from."""
    return any(m["role"] == "user" for m in messages)


@dataclass(frozen=True)
class ImportPlan:
    """What discovery found, as units; `skipped` maps a unit's position to its reason."""

    files: list[str]
    problems: list[ReadProblem]
    units: list[ImportUnit]
    skipped: dict[int, str]


@dataclass
class ImportTally:
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

    def unit(self, unit: ImportUnit) -> None:
        self.total += 1
        self._file(unit.file)["units"] += 1

    def skip(self, unit: ImportUnit, reason: str) -> dict[str, Any]:
        self.skipped[reason] += 1
        self._file(unit.file)["skipped"] += 1
        return self._event(unit, "skipped", reason, [], "")

    def result(
        self, unit: ImportUnit, result: IngestResult | None, error: str
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
        self,
        unit: ImportUnit,
        status: str,
        outcome: str,
        skills: list[dict],
        error: str,
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
