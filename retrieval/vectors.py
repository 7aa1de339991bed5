"""The on-disk vector mirror: SkillBank/vectors/<signature>.meta.json|.ids.txt|.vecs.f32.

The three files are written as a set and checksummed, so a reader never pairs ids
with the wrong rows after a crash mid-write. Searching happens in retrieval/index.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

_DISK_DTYPE = np.dtype("<f4")  # the original wrote native order; we pin little-endian
_SAFE_SIGNATURE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def validate_vector_id(item_id: str) -> None:
    """Ids become lines of `.ids.txt`, so anything a line reader would split is refused."""
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"Vector id must be a non-empty string, got {item_id!r}.")
    if item_id.splitlines() != [item_id]:
        raise ValueError(f"Vector id {item_id!r} contains a line break.")


def _paths(directory: Path, signature: str) -> tuple[Path, Path, Path]:
    if not _SAFE_SIGNATURE.fullmatch(signature):
        raise ValueError(f"Unsafe vector index signature {signature!r}.")
    return (
        directory / f"{signature}.meta.json",
        directory / f"{signature}.ids.txt",
        directory / f"{signature}.vecs.f32",
    )


def _write_temp(directory: Path, final: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=f".{final.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)  # noqa: S103 - mirror files are meant to be read by tools
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_vector_files(
    directory: Path, signature: str, ids: list[str], matrix: np.ndarray
) -> None:
    """Write meta, ids and vecs so that a reader sees the old set or the new one.

    Each file is renamed into place; meta goes last and carries checksums of the
    other two, so a crash between renames leaves a set the reader rejects.
    """
    meta_path, ids_path, vecs_path = _paths(Path(directory), signature)
    ids = list(ids)
    for item_id in ids:
        validate_vector_id(item_id)
    if len(set(ids)) != len(ids):
        raise ValueError("Duplicate ids in vector files.")
    rows = np.asarray(matrix)
    if rows.ndim != 2 or rows.shape[0] != len(ids) or rows.shape[1] < 1:
        raise ValueError(f"Matrix shape {rows.shape} does not fit {len(ids)} ids.")
    vecs = np.ascontiguousarray(rows, dtype=_DISK_DTYPE).tobytes()
    id_text = "".join(f"{item_id}\n" for item_id in ids).encode("utf-8")
    meta = {
        "version": 1,
        "dims": int(rows.shape[1]),
        "count": len(ids),
        "dtype": "float32",
        "byteorder": "little",
        "sha256": hashlib.sha256(vecs).hexdigest(),
        "ids_sha256": hashlib.sha256(id_text).hexdigest(),
    }
    Path(directory).mkdir(parents=True, exist_ok=True)
    temps: list[tuple[Path, Path]] = []
    try:
        for final, data in (
            (vecs_path, vecs),
            (ids_path, id_text),
            (meta_path, json.dumps(meta).encode("utf-8")),
        ):
            temps.append((_write_temp(Path(directory), final, data), final))
        for temp, final in temps:
            os.replace(temp, final)
    finally:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
    _fsync_directory(Path(directory))


def read_vector_files(
    directory: Path, signature: str, *, allow_unchecksummed: bool = False
) -> tuple[list[str], np.ndarray] | None:
    """The stored (ids, matrix), or None when the set is missing or inconsistent.

    `allow_unchecksummed` accepts the original's meta (no checksums) for imports;
    the sizes must still agree exactly.
    """
    meta_path, ids_path, vecs_path = _paths(Path(directory), signature)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        id_bytes = ids_path.read_bytes()
        vecs = vecs_path.read_bytes()
        id_text = id_bytes.decode("utf-8")
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("version") != 1:
        return None
    dims, count = meta.get("dims"), meta.get("count")
    if meta.get("dtype") != "float32" or meta.get("byteorder", "little") != "little":
        return None
    if not isinstance(dims, int) or dims < 1 or not isinstance(count, int) or count < 0:
        return None
    if "sha256" in meta or not allow_unchecksummed:
        if meta.get("sha256") != hashlib.sha256(vecs).hexdigest():
            return None
        if meta.get("ids_sha256") != hashlib.sha256(id_bytes).hexdigest():
            return None
    if id_text and not id_text.endswith("\n"):
        return None
    ids = id_text.split("\n")[:-1]
    if len(ids) != count or len(set(ids)) != count or len(vecs) != count * dims * 4:
        return None
    try:
        for item_id in ids:
            validate_vector_id(item_id)
    except ValueError:
        return None
    matrix = np.frombuffer(vecs, dtype=_DISK_DTYPE).reshape(count, dims)
    if not np.all(np.isfinite(matrix)):
        return None
    return ids, matrix.astype(np.float32)  # native order, writable copy
