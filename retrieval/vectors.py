"""Exact in-process vector search and the on-disk vector mirror files.

Pure numpy: flat search is exact, needs no index build, and is fast enough for the
skill corpus (DEPENDENCIES.md section 3). The files keep the original's layout so
its tools can still read them, plus a checksum so a torn write is detected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autoskill_site.providers.embeddings import EmbeddingError, l2_normalise

_DISK_DTYPE = np.dtype("<f4")  # the original wrote native order; we pin little-endian
_SAFE_SIGNATURE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def validate_vector_id(item_id: str) -> None:
    """Ids become lines of `.ids.txt`, so anything a line reader would split is refused."""
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"Vector id must be a non-empty string, got {item_id!r}.")
    if item_id.splitlines() != [item_id]:
        raise ValueError(f"Vector id {item_id!r} contains a line break.")


def _normalised_rows(vectors: np.ndarray, dims: int) -> np.ndarray:
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2 or rows.shape[1] != dims:
        raise ValueError(
            f"Expected vectors of {dims} dimensions, got shape {rows.shape}."
        )
    try:
        return l2_normalise(rows)
    except EmbeddingError as exc:
        raise ValueError(str(exc)) from exc


class VectorMatrix:
    """Unit-length float32 rows keyed by id; scores are cosines in row order.

    Storage grows by doubling and removal moves the last row into the hole, so a
    single change never rebuilds the matrix. Not thread-safe: callers hold a lock.
    """

    def __init__(self, dims: int, *, capacity: int = 16) -> None:
        if dims < 1:
            raise ValueError("dims must be positive.")
        self._dims = dims
        self._data = np.zeros((max(capacity, 1), dims), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}

    @classmethod
    def from_arrays(cls, ids: Sequence[str], matrix: np.ndarray) -> VectorMatrix:
        rows = np.asarray(matrix)
        if rows.ndim != 2 or rows.shape[1] < 1:
            raise ValueError(f"Expected a 2-D matrix, got shape {rows.shape}.")
        built = cls(rows.shape[1], capacity=len(ids))
        built.upsert(ids, rows)
        return built

    @property
    def dims(self) -> int:
        return self._dims

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    @property
    def matrix(self) -> np.ndarray:
        """A read-only view of the live rows, aligned with `ids`."""
        view = self._data[: len(self._ids)]
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Replace rows of known ids in place and append the rest."""
        ids = list(ids)
        for item_id in ids:
            validate_vector_id(item_id)
        if len(set(ids)) != len(ids):
            raise ValueError("Duplicate ids in one upsert.")
        rows = _normalised_rows(vectors, self._dims)
        if rows.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids but {rows.shape[0]} vectors.")
        new = [item_id for item_id in ids if item_id not in self._rows]
        needed = len(self._ids) + len(new)
        if needed > self._data.shape[0]:
            grown = np.zeros(
                (max(needed, 2 * self._data.shape[0]), self._dims), np.float32
            )
            grown[: len(self._ids)] = self._data[: len(self._ids)]
            self._data = grown
        for item_id in new:
            self._rows[item_id] = len(self._ids)
            self._ids.append(item_id)
        self._data[[self._rows[item_id] for item_id in ids]] = rows

    def remove(self, ids: Sequence[str]) -> int:
        """Drop the given ids (unknown ones are ignored); returns how many went."""
        removed = 0
        for item_id in ids:
            row = self._rows.pop(item_id, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._data[row] = self._data[last]
                self._ids[row] = moved
                self._rows[moved] = row
            self._ids.pop()
            removed += 1
        return removed

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of the query against every row, aligned with `ids` (one matvec)."""
        q = _normalised_rows(query, self._dims)[0]
        return self._data[: len(self._ids)] @ q

    def top_k(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k best (id, cosine) pairs, best first; ties keep row order."""
        scores = self.scores(query)
        if k <= 0 or scores.size == 0:
            return []
        k = min(k, scores.size)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((best, -scores[best]))]
        return [(self._ids[i], float(scores[i])) for i in best]


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
