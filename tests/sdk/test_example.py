"""The fresh-process path: `examples/basic_ingest_search.py` sets Django up itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(store: Path) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        # Nothing of the test run's configuration may leak into the fresh process.
        if not k.startswith(("DJANGO_", "AUTOSKILL_", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "basic_ingest_search.py"), str(store)],
        cwd=store.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_basic_example_runs_offline_end_to_end(tmp_path: Path):
    store = tmp_path / "SkillBank"
    done = _run(store)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "learned: ['release-process']"
    assert lines[1].startswith("release-process ")
    assert "### Skill 1: release-process" in done.stdout
    assert "Query: How should I do a safe release?" in done.stdout
    # The database was created (and migrated) next to the SkillBank mirror.
    assert (tmp_path / "SkillBank.sqlite3").is_file()
    assert list(store.glob("Users/*/release-process/SKILL.md"))

    # A second run reuses the database: the same window finds the same skill.
    again = _run(store)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[:2] == lines[:2]
