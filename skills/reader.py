"""Read SKILL.md folders from disk safely: no symlinks, no hidden files, size limits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from skills.skillmd import SkillDocument, SkillMdError, parse_skill_md
from skills.validators import RESOURCE_ROOTS, resource_path_problem

SKIPPED_DIRS = {"__pycache__", "node_modules"}
SCRIPT_SUFFIXES = {
    ".py",
    ".sh",
    ".bash",
    ".js",
    ".mjs",
    ".cjs",
    ".ts",
    ".rb",
    ".go",
    ".java",
    ".cs",
    ".php",
    ".pl",
    ".ps1",
    ".bat",
    ".r",
    ".lua",
    ".rs",
    ".c",
    ".cc",
    ".cpp",
    ".h",
    ".swift",
    ".kt",
}
TEXT_SUFFIXES = {".md", ".txt", ".rst", ".markdown", ".adoc"}


class SkillReadError(Exception):
    """A skill folder that cannot be imported; the message says why."""


@dataclass
class SkillFolder:
    """One skill read from disk, with its resource files and what was left out."""

    path: Path
    document: SkillDocument
    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def discover(root: Path, *, max_depth: int = 6) -> Iterator[Path]:
    """Yield folders holding a SKILL.md, never descending into one or following links."""
    root = Path(root)
    if (root / "SKILL.md").is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        current = Path(dirpath)
        depth = len(current.relative_to(root).parts)
        if "SKILL.md" in filenames and current != root:
            dirnames[:] = []
            yield current
            continue
        if depth >= max_depth:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in SKIPPED_DIRS
            and not (current / d).is_symlink()
        )


def _read_bytes(path: Path, *, limit: int) -> bytes:
    if path.is_symlink():
        raise SkillReadError(
            f"{path.name} is a symbolic link; links are never followed."
        )
    size = path.stat().st_size
    if size > limit:
        raise SkillReadError(f"{path.name} is {size} bytes; the limit is {limit}.")
    return path.read_bytes()


def _resource_path(rel: PurePosixPath, data: bytes) -> str:
    """Keep scripts/, references/, assets/ paths; file anything else under a fitting root."""
    if rel.parts[0] in RESOURCE_ROOTS:
        return rel.as_posix()
    suffix = rel.suffix.lower()
    if suffix in SCRIPT_SUFFIXES:
        root = "scripts"
    elif suffix in TEXT_SUFFIXES and b"\x00" not in data[:8192]:
        root = "references"
    else:
        root = "assets"
    return f"{root}/{rel.as_posix()}"


def read_folder(
    folder: Path, *, include_files: bool, max_file_bytes: int, max_files: int
) -> SkillFolder:
    """Parse a skill folder; a broken SKILL.md raises, a bad resource is skipped with a note."""
    skill_md = folder / "SKILL.md"
    try:
        raw = _read_bytes(skill_md, limit=max_file_bytes)
    except OSError as exc:
        raise SkillReadError(f"cannot read SKILL.md: {exc.strerror or exc}") from exc
    if b"\x00" in raw:
        raise SkillReadError("SKILL.md is binary (contains NUL bytes).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkillReadError(
            f"SKILL.md is not UTF-8 ({exc.reason} at byte {exc.start})."
        ) from exc
    try:
        document = parse_skill_md(text, fallback_name=folder.name)
    except SkillMdError as exc:
        raise SkillReadError(f"SKILL.md: {exc}") from exc
    result = SkillFolder(path=folder, document=document)
    if include_files:
        _collect_files(result, max_file_bytes=max_file_bytes, max_files=max_files)
    return result


def _collect_files(result: SkillFolder, *, max_file_bytes: int, max_files: int) -> None:
    folder = result.path
    refiled: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        current = Path(dirpath)
        for name in list(dirnames):
            if (
                name.startswith(".")
                or name in SKIPPED_DIRS
                or (current / name).is_symlink()
            ):
                dirnames.remove(name)
                if (current / name).is_symlink():
                    result.notes.append(
                        f"skipped linked folder {(current / name).relative_to(folder)}"
                    )
        dirnames.sort()
        for name in sorted(filenames):
            path = current / name
            rel = PurePosixPath(path.relative_to(folder).as_posix())
            if rel.as_posix() == "SKILL.md" or name.startswith("."):
                continue
            try:
                data = _read_bytes(path, limit=max_file_bytes)
            except (SkillReadError, OSError) as exc:
                result.notes.append(f"skipped {rel}: {exc}")
                continue
            target = _resource_path(rel, data)
            problem = resource_path_problem(target)
            if problem:
                result.notes.append(f"skipped {rel}: path {problem}")
                continue
            if len(result.files) >= max_files:
                result.notes.append(f"skipped {rel}: more than {max_files} files")
                continue
            if target != rel.as_posix():
                refiled.append(f"{rel} -> {target}")
            result.files[target] = data
    if refiled:
        example = ", ".join(refiled[:2]) + (", ..." if len(refiled) > 2 else "")
        result.notes.append(
            f"filed {len(refiled)} file(s) outside the resource roots: {example}"
        )
