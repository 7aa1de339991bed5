"""The vector mirror files and id validation (retrieval/vectors.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.vectors import (
    read_vector_files,
    validate_vector_id,
    write_vector_files,
)

SIG = "skills-hashing-default-d256-8c95e52120"


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def random_rows(n: int, dims: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class TestIdValidation:
    @pytest.mark.parametrize(
        "bad", ["", "a\nb", "a\rb", "tail\n", "a\u2028b", "a\x85b"]
    )
    def test_line_breaking_ids_are_rejected(self, bad: str) -> None:
        """Anything a line reader would split (or an empty id) cannot be stored."""
        with pytest.raises(ValueError):
            validate_vector_id(bad)

    @pytest.mark.parametrize("good", ["7f3c-uuid", "技能 一", "a b\tc"])
    def test_ordinary_ids_pass(self, good: str) -> None:
        """Spaces, tabs and non-ASCII are fine."""
        validate_vector_id(good)


class TestVectorFiles:
    def write(
        self, tmp_path: Path, n: int = 3, dims: int = 4
    ) -> tuple[list[str], np.ndarray]:
        ids = [f"skill-{i}" for i in range(n)]
        rows = random_rows(n, dims, seed=n)
        write_vector_files(tmp_path, SIG, ids, rows)
        return ids, rows

    def test_round_trip(self, tmp_path: Path) -> None:
        """What is written is read back exactly, in row order."""
        # given
        ids, rows = self.write(tmp_path)
        # when
        loaded = read_vector_files(tmp_path, SIG)
        # then
        assert loaded is not None
        assert loaded[0] == ids
        np.testing.assert_array_equal(loaded[1], rows)
        assert loaded[1].dtype == np.float32 and loaded[1].flags.writeable

    def test_layout_matches_the_original(self, tmp_path: Path) -> None:
        """meta.json fields, \\n-terminated ids, and raw little-endian float32 rows."""
        # given
        ids, rows = self.write(tmp_path, n=2, dims=3)
        # when
        meta = json.loads((tmp_path / f"{SIG}.meta.json").read_text())
        id_text = (tmp_path / f"{SIG}.ids.txt").read_text()
        raw = (tmp_path / f"{SIG}.vecs.f32").read_bytes()
        # then
        assert {
            k: meta[k] for k in ("version", "dims", "count", "dtype", "byteorder")
        } == {
            "version": 1,
            "dims": 3,
            "count": 2,
            "dtype": "float32",
            "byteorder": "little",
        }
        assert len(meta["sha256"]) == 64
        assert id_text == "skill-0\nskill-1\n"
        assert len(raw) == 2 * 3 * 4
        np.testing.assert_array_equal(
            np.frombuffer(raw, dtype="<f4").reshape(2, 3), rows
        )

    def test_big_endian_input_is_written_little_endian(self, tmp_path: Path) -> None:
        """The on-disk order is '<f4' whatever the in-memory or host order."""
        # given
        rows = np.array([[1.0, -2.5]], dtype=">f4")
        # when
        write_vector_files(tmp_path, SIG, ["a"], rows)
        # then
        raw = (tmp_path / f"{SIG}.vecs.f32").read_bytes()
        assert raw == np.array([1.0, -2.5], dtype="<f4").tobytes()
        assert raw[:4] == b"\x00\x00\x80\x3f"  # 1.0f little-endian
        assert sys.byteorder == "little" or raw != rows.tobytes()

    def test_empty_set_round_trips(self, tmp_path: Path) -> None:
        """Zero rows with known dims is a valid, empty index."""
        write_vector_files(tmp_path, SIG, [], np.zeros((0, 5), dtype=np.float32))
        loaded = read_vector_files(tmp_path, SIG)
        assert loaded is not None and loaded[0] == [] and loaded[1].shape == (0, 5)

    def test_no_temp_files_are_left_behind(self, tmp_path: Path) -> None:
        """Only the three final files remain after a write, even after overwriting."""
        self.write(tmp_path)
        self.write(tmp_path, n=5)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            f"{SIG}{suffix}" for suffix in (".ids.txt", ".meta.json", ".vecs.f32")
        )

    def test_truncated_vecs_file_reads_as_none(self, tmp_path: Path) -> None:
        """A short vecs file (torn write) is detected, never silently misaligned."""
        # given
        self.write(tmp_path)
        vecs = tmp_path / f"{SIG}.vecs.f32"
        # when
        vecs.write_bytes(vecs.read_bytes()[:-4])
        # then
        assert read_vector_files(tmp_path, SIG) is None

    def test_wrong_checksum_reads_as_none(self, tmp_path: Path) -> None:
        """Same length, different bytes: the checksum catches it."""
        # given
        self.write(tmp_path)
        vecs = tmp_path / f"{SIG}.vecs.f32"
        data = bytearray(vecs.read_bytes())
        # when
        data[0] ^= 0xFF
        vecs.write_bytes(bytes(data))
        # then
        assert read_vector_files(tmp_path, SIG) is None

    def test_new_vecs_with_old_meta_reads_as_none(self, tmp_path: Path) -> None:
        """A crash after vecs+ids were renamed but before meta leaves a rejected set."""
        # given
        ids, _ = self.write(tmp_path, n=3)
        old_meta = (tmp_path / f"{SIG}.meta.json").read_bytes()
        write_vector_files(tmp_path, SIG, ids, random_rows(3, 4, seed=99))
        # when
        (tmp_path / f"{SIG}.meta.json").write_bytes(old_meta)
        # then
        assert read_vector_files(tmp_path, SIG) is None

    def test_count_mismatch_reads_as_none(self, tmp_path: Path) -> None:
        """An ids file with a missing line disagrees with meta's count."""
        # given
        self.write(tmp_path)
        ids_file = tmp_path / f"{SIG}.ids.txt"
        # when
        ids_file.write_text("skill-0\nskill-1\n")
        # then
        assert read_vector_files(tmp_path, SIG) is None

    @pytest.mark.parametrize("missing", [".meta.json", ".ids.txt", ".vecs.f32"])
    def test_missing_file_reads_as_none(self, tmp_path: Path, missing: str) -> None:
        """All three files are required."""
        self.write(tmp_path)
        (tmp_path / f"{SIG}{missing}").unlink()
        assert read_vector_files(tmp_path, SIG) is None

    def test_nothing_written_reads_as_none(self, tmp_path: Path) -> None:
        """An unknown signature is simply absent."""
        assert read_vector_files(tmp_path / "nowhere", SIG) is None

    def test_original_meta_needs_explicit_opt_in(self, tmp_path: Path) -> None:
        """Meta without checksums (the original's) is accepted only when asked."""
        # given
        ids, rows = self.write(tmp_path)
        meta = {"version": 1, "dims": 4, "count": 3, "dtype": "float32"}
        # when
        (tmp_path / f"{SIG}.meta.json").write_text(json.dumps(meta))
        # then
        assert read_vector_files(tmp_path, SIG) is None
        loaded = read_vector_files(tmp_path, SIG, allow_unchecksummed=True)
        assert loaded is not None and loaded[0] == ids

    def test_writer_rejects_bad_ids_and_shapes(self, tmp_path: Path) -> None:
        """Newline ids, duplicates, a shape mismatch and unsafe names write nothing."""
        rows = random_rows(2, 3)
        with pytest.raises(ValueError, match="line break"):
            write_vector_files(tmp_path, SIG, ["ok", "bad\nid"], rows)
        with pytest.raises(ValueError, match="Duplicate"):
            write_vector_files(tmp_path, SIG, ["a", "a"], rows)
        with pytest.raises(ValueError, match="does not fit"):
            write_vector_files(tmp_path, SIG, ["a"], rows)
        with pytest.raises(ValueError, match="Unsafe"):
            write_vector_files(tmp_path, "../escape", ["a", "b"], rows)
        assert list(tmp_path.iterdir()) == []
