"""Reading import sources: files under a path, their JSON values, and what could not be read.

Shared by conversation and trajectory discovery (pure; no Django). Reading never
skips silently: an unreadable file or a bad JSONL line becomes a `ReadProblem`
with its file and line number, collected next to the units in a `Discovery`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from autoskill_site.sanitize import JSONRefused, json_loads_bounded

__all__ = [
    "JSON_SUFFIXES",
    "Discovery",
    "ReadProblem",
    "read_json_values",
    "read_text",
    "source_files",
    "walk_json",
]

JSON_SUFFIXES = (".json", ".jsonl")

U = TypeVar("U")
T = TypeVar("T")


@dataclass(frozen=True)
class ReadProblem:
    """A file, or one line of a JSONL file, that could not be read."""

    file: str
    error: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "index": None,
            "line": self.line,
            "error": self.error,
        }


def source_files(path: Path, suffixes: Sequence[str]) -> list[Path]:
    """`path` itself when it is a file, else every matching file below it, sorted.

    Raises FileNotFoundError when `path` does not exist.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist.")
    wanted = {suffix.lower() for suffix in suffixes}
    return sorted(
        candidate
        for candidate in path.rglob("*")
        if candidate.is_file() and candidate.suffix.lower() in wanted
    )


def read_text(path: Path) -> str:
    """UTF-8 text of a file (a leading BOM is dropped); raises OSError/UnicodeError."""
    return path.read_bytes().decode("utf-8-sig")


def read_json_values(
    path: Path,
) -> tuple[list[tuple[int | None, Any]], list[ReadProblem]]:
    """The JSON values of a `.json` (one value) or `.jsonl` file (one per line).

    Each value comes with its line number (None for a whole-file value). A `.json`
    file that turns out to hold one value per line is read as JSONL, since exports
    often get the suffix wrong; other suffixes are tried as JSON, then as JSONL.
    """
    name = str(path)
    try:
        text = read_text(path)
    except (OSError, UnicodeError) as exc:
        return [], [ReadProblem(name, f"cannot read file: {exc}")]
    if path.suffix.lower() == ".jsonl":
        return _jsonl_values(name, text)
    try:
        return [(None, json_loads_bounded(text))], []
    except JSONRefused as exc:
        return [], [ReadProblem(name, str(exc))]
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and _parses(lines[0]):
            return _jsonl_values(name, text)
        return [], [ReadProblem(name, f"invalid JSON: {exc}")]


def _parses(line: str) -> bool:
    try:
        json_loads_bounded(line)
    except ValueError:
        return False
    return True


def _jsonl_values(
    name: str, text: str
) -> tuple[list[tuple[int | None, Any]], list[ReadProblem]]:
    values: list[tuple[int | None, Any]] = []
    problems: list[ReadProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append((number, json_loads_bounded(line)))
        except JSONRefused as exc:
            problems.append(ReadProblem(name, str(exc), line=number))
        except json.JSONDecodeError as exc:
            problems.append(ReadProblem(name, f"invalid JSON: {exc.msg}", line=number))
    return values, problems


def walk_json(
    value: Any, claim: Callable[[Any], tuple[list[T], Iterable[Any]]]
) -> list[T]:
    """Every item `claim` finds inside a JSON value, depth first in document order.

    `claim(node)` says what one node is: the items it holds itself and the children
    still to search. Conversations and trajectory records differ only in those
    rules, so each kind of discovery supplies its own `claim`.
    """
    found: list[T] = []

    def visit(node: Any) -> None:
        items, children = claim(node)
        found.extend(items)
        for child in children:
            visit(child)

    visit(value)
    return found


@dataclass
class Discovery(Generic[U]):
    """Everything found under a path: units in file order, problems, and files scanned."""

    units: list[U] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def scan(self, path: Path, suffixes: Sequence[str]) -> Iterator[tuple[Path, str]]:
        """Each source file with its resolved name, recorded in `files` as it is reached.

        Raises FileNotFoundError when `path` does not exist.
        """
        for file in source_files(path, suffixes):
            name = str(file.resolve())
            self.files.append(name)
            yield file, name

    def json_items(
        self, file: Path, name: str, find: Callable[[Any], Iterable[T]]
    ) -> Iterator[tuple[int, int | None, T]]:
        """`(index, line, item)` for every item `find` returns from the file's JSON values.

        `index` counts from 0 within the file; read problems are recorded under the
        resolved `name`, so every report row names the same file the same way.
        """
        values, problems = read_json_values(file)
        self.problems.extend(ReadProblem(name, p.error, p.line) for p in problems)
        found = ((line, item) for line, value in values for item in find(value))
        for index, (line, item) in enumerate(found):
            yield index, line, item
