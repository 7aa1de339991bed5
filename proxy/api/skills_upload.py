"""Import skills from an uploaded .zip or SKILL.md, with the archive checked first.

Nothing from an upload touches the disk until the whole archive has passed: entry
count, total and per-entry expansion (zip bombs), absolute and `..` paths
(zip-slip), symbolic links, encryption and duplicate names. Accepted entries are
then written into a private temporary folder and imported by `skills.importer`,
the same code path as `manage.py import_skills`, so both apply the same SKILL.md
parsing, resource rules and re-import identity.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from autoskill_site.exceptions import ApplicationError, InvalidInput
from proxy.api.skills_common import PayloadTooLarge, setting
from skills.importer import (
    ImportOptions,
    ImportReport,
    Target,
    import_folders,
    plan_tree,
)
from skills.skillmd import SkillMdError, parse_skill_md, slugify

MACOS_METADATA = "__MACOSX"
# A local file header, or the end record of an empty archive.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Below this size a high ratio is just a very repetitive text file, not a bomb.
RATIO_FLOOR_BYTES = 1 << 20
_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The longest file name Linux filesystems take (NAME_MAX).
MAX_SEGMENT_BYTES = 255


class UploadRejected(ApplicationError):
    """An upload that is refused as a whole; `code` names the rule it broke."""

    status = 400

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    """Every bound an upload must respect (settings, read per request)."""

    upload_bytes: int
    uncompressed_bytes: int
    entries: int
    ratio: int
    file_bytes: int

    @classmethod
    def from_settings(cls) -> UploadLimits:
        return cls(
            upload_bytes=setting("AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES", 20_000_000),
            uncompressed_bytes=setting(
                "AUTOSKILL_IMPORT_MAX_UNCOMPRESSED_BYTES", 100_000_000
            ),
            entries=setting("AUTOSKILL_IMPORT_MAX_ENTRIES", 2000),
            ratio=setting("AUTOSKILL_IMPORT_MAX_RATIO", 100),
            file_bytes=setting("AUTOSKILL_MAX_FILE_BYTES", 1_000_000),
        )


class SizeLimitedUploadHandler(FileUploadHandler):
    """Stops a multipart upload as soon as it passes the limit.

    A client may send no Content-Length (chunked), so the size is also counted while
    the body streams in, before anything is stored.
    """

    def __init__(self, request: Any = None, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise PayloadTooLarge(f"The upload is over the {self.limit} byte limit.")
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temp file) keeps the data


@dataclass
class UploadOutcome:
    """The importer's report with paths made relative to the upload."""

    report: ImportReport
    notes: list[tuple[str, str]] = field(default_factory=list)


def import_upload(
    *,
    upload: UploadedFile,
    target: Target,
    overwrite: bool,
    include_files: bool,
    limits: UploadLimits,
) -> UploadOutcome:
    """Check, unpack and import one uploaded file for `target`."""
    if upload.size is not None and upload.size > limits.upload_bytes:
        raise PayloadTooLarge(
            f"The upload is {upload.size} bytes; the limit is {limits.upload_bytes}."
        )
    head = upload.read(4)
    upload.seek(0)
    name = upload.name or ""
    with tempfile.TemporaryDirectory(prefix="autoskill-upload-") as tmp:
        base = Path(tmp)
        if head in ZIP_MAGIC:
            root = base / (_slug_of(Path(name).stem) or "upload")
            notes = extract_archive(upload, root, limits=limits)
        elif _looks_like_skill_md(name, upload.content_type):
            root, notes = _write_skill_md(upload, base, limits=limits), []
        else:
            raise UploadRejected(
                f"{name[:100] or 'The upload'} is neither a .zip archive nor a "
                "SKILL.md (text) file.",
                code="unsupported_upload",
                status=415,
            )
        plan = plan_tree(root, target=target, max_depth=6)
        if not plan:
            raise UploadRejected(
                "The upload holds no SKILL.md; each skill is a folder with a SKILL.md.",
                code="no_skill_md",
            )
        report = import_folders(
            plan,
            options=ImportOptions(overwrite=overwrite, include_files=include_files),
            report=ImportReport(),
        )
        return UploadOutcome(report=_relative_report(report, base=base), notes=notes)


def _looks_like_skill_md(name: str, content_type: str | None) -> bool:
    """By the file name's extension; only a name without one defers to the type."""
    suffix = Path(name).suffix.lower()
    if suffix:
        return suffix in (".md", ".markdown", ".txt")
    return (content_type or "").startswith("text/")


def _slug_of(text: str) -> str:
    return slugify(text, max_length=64)


def _write_skill_md(upload: UploadedFile, base: Path, *, limits: UploadLimits) -> Path:
    data = upload.read(limits.file_bytes + 1)
    if len(data) > limits.file_bytes:
        raise PayloadTooLarge(
            f"The SKILL.md is over the {limits.file_bytes} byte limit."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"The SKILL.md is not UTF-8 ({exc.reason} at byte {exc.start})."
        ) from exc
    if not text.strip():
        raise InvalidInput("The uploaded SKILL.md is empty.")
    stem = Path(upload.name or "").stem
    try:
        doc = parse_skill_md(text, fallback_name=_slug_of(stem))
    except SkillMdError as exc:
        raise InvalidInput(f"SKILL.md: {exc}") from exc
    # The folder name is the re-import key: the same skill name maps to the same skill.
    folder = base / (_slug_of(doc.name) or "skill")
    folder.mkdir()
    (folder / "SKILL.md").write_bytes(data)
    return folder


def _entry_segments(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The path parts of an entry, or UploadRejected if it could escape the folder."""
    name = info.filename
    if "\\" in name:
        raise UploadRejected(
            f"Entry {name[:200]!r} uses backslashes; zip paths must use '/'.",
            code="zip_unsafe_path",
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise UploadRejected(
            f"Entry {name[:200]!r} has an absolute path.", code="zip_unsafe_path"
        )
    parts = tuple(part for part in PurePosixPath(name).parts if part not in ("", "."))
    if ".." in parts:
        raise UploadRejected(
            f"Entry {name[:200]!r} climbs out of the archive with '..' (zip-slip).",
            code="zip_slip",
        )
    if any(_CONTROL.search(part) for part in parts):
        raise UploadRejected(
            f"Entry {name[:200]!r} contains control characters.",
            code="zip_unsafe_path",
        )
    if any(
        len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for part in parts
    ):
        raise UploadRejected(
            f"Entry {name[:200]!r} has a name over {MAX_SEGMENT_BYTES} bytes.",
            code="zip_unsafe_path",
        )
    return parts


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def archive_members(
    archive: zipfile.ZipFile, *, limits: UploadLimits
) -> tuple[list[tuple[zipfile.ZipInfo, tuple[str, ...]]], list[tuple[str, str]]]:
    """Entries to extract and notes on those left out; raises on any unsafe entry."""
    infos = archive.infolist()
    if len(infos) > limits.entries:
        raise UploadRejected(
            f"The archive has {len(infos)} entries; the limit is {limits.entries}.",
            code="zip_too_many_entries",
        )
    members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    notes: list[tuple[str, str]] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    for info in infos:
        parts = _entry_segments(info)
        if _is_symlink(info):
            raise UploadRejected(
                f"Entry {info.filename[:200]!r} is a symbolic link; links are refused.",
                code="zip_symlink",
            )
        if info.flag_bits & 0x1:
            raise UploadRejected(
                f"Entry {info.filename[:200]!r} is encrypted.", code="zip_encrypted"
            )
        if parts in seen:
            raise UploadRejected(
                f"Entry {info.filename[:200]!r} appears twice.", code="zip_duplicate"
            )
        seen.add(parts)
        if info.is_dir() or not parts:
            continue
        if parts[0] == MACOS_METADATA or any(p.startswith(".") for p in parts):
            continue  # Finder metadata and hidden files are never skill content
        total += info.file_size
        if total > limits.uncompressed_bytes:
            raise UploadRejected(
                f"The archive expands to more than {limits.uncompressed_bytes} bytes.",
                code="zip_bomb",
            )
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.ratio * max(
            info.compress_size, 1
        ):
            raise UploadRejected(
                f"Entry {info.filename[:200]!r} expands {info.file_size} bytes from "
                f"{info.compress_size} (over {limits.ratio}x); refused as a zip bomb.",
                code="zip_bomb",
            )
        if info.file_size > limits.file_bytes:
            notes.append(
                (
                    "/".join(parts),
                    f"skipped: {info.file_size} bytes; the limit is {limits.file_bytes}",
                )
            )
            continue
        members.append((info, parts))
    return members, notes


def extract_archive(
    upload: UploadedFile, root: Path, *, limits: UploadLimits
) -> list[tuple[str, str]]:
    """Unpack the checked entries under `root`; returns notes on entries left out."""
    try:
        with zipfile.ZipFile(upload.file) as archive:
            members, notes = archive_members(archive, limits=limits)
            root.mkdir(parents=True)
            real_root = root.resolve()
            written = 0
            for info, parts in members:
                target = root.joinpath(*parts)
                if not target.resolve().is_relative_to(real_root):
                    raise UploadRejected(
                        f"Entry {info.filename[:200]!r} resolves outside the archive.",
                        code="zip_slip",
                    )
                written += _extract_one(archive, info, target)
                if written > limits.uncompressed_bytes:
                    raise UploadRejected(
                        "The archive expands beyond its declared sizes.",
                        code="zip_bomb",
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise UploadRejected(
            f"The upload is not a readable zip archive ({exc}).", code="zip_invalid"
        ) from exc
    return notes


def _extract_one(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        # O_EXCL + O_NOFOLLOW: never write through something already there.
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
        with archive.open(info) as source, os.fdopen(fd, "wb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                # zipfile stops at the declared size; this guards the declaration.
                if written > info.file_size:
                    raise UploadRejected(
                        f"Entry {info.filename[:200]!r} is larger than it declares.",
                        code="zip_bomb",
                    )
                sink.write(chunk)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise UploadRejected(
            f"Entry {info.filename[:200]!r} clashes with another entry of the archive.",
            code="zip_invalid",
        ) from exc
    except OSError as exc:
        # A path the filesystem refuses (too long in all, an unusable name): the
        # uploader's problem to fix, not a server error.
        raise UploadRejected(
            f"Entry {info.filename[:200]!r} cannot be unpacked ({exc.strerror}).",
            code="zip_unsafe_path",
        ) from exc
    return written


def _relative(path: str, *, base: Path) -> str:
    rel = os.path.relpath(path, base)
    return Path(path).name if rel.startswith("..") else rel


def _relative_report(report: ImportReport, *, base: Path) -> ImportReport:
    """Temporary folder names mean nothing to the uploader; show archive paths."""

    def fix(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            (
                _relative(path, base=base),
                message.replace(str(base) + os.sep, "").replace(
                    "use --overwrite", "send overwrite=true"
                ),
            )
            for path, message in items
        ]

    report.skipped = fix(report.skipped)
    report.errors = fix(report.errors)
    report.notes = fix(report.notes)
    return report
