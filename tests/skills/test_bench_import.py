"""Integration: the real 1,057-skill dev bench imports losslessly and mirrors spec-valid."""

from __future__ import annotations

import random
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from skills_ref.validator import validate

from skills.models import Skill
from skills.skillmd import parse_skill_md

BENCH_DEV = Path(__file__).resolve().parents[3] / "shared" / "bench" / "dev" / "skills"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db,
    pytest.mark.skipif(not BENCH_DEV.is_dir(), reason="shared bench data not present"),
]


def test_dev_bench_imports_every_skill_without_loss(store_dir):
    # when
    out = StringIO()
    call_command(
        "import_skills",
        str(BENCH_DEV),
        "--library",
        "bench",
        "--keep-ids",
        "--no-progress",
        stdout=out,
        stderr=out,
    )
    # then
    folders = [p for p in BENCH_DEV.iterdir() if (p / "SKILL.md").is_file()]
    assert Skill.objects.count() == len(folders), out.getvalue()
    skills = {str(s.pk): s for s in Skill.objects.all()}
    for folder in folders:
        source = parse_skill_md(
            (folder / "SKILL.md").read_text(encoding="utf-8"), fallback_name=folder.name
        )
        skill = skills[source.id]
        assert skill.instructions == source.instructions, folder.name
        assert (skill.triggers, skill.tags) == (
            list(source.triggers),
            list(source.tags),
        ), folder.name
        assert [e["input"] for e in skill.examples] == [
            e.input for e in source.examples
        ], folder.name
    # and a sample of the mirror passes the spec and parses back to the same skill
    mirrored = sorted((store_dir / "Common" / "bench").iterdir())
    assert len(mirrored) == len(folders)
    for folder in random.Random(7).sample(mirrored, 150):
        assert validate(folder) == [], folder
        again = parse_skill_md((folder / "SKILL.md").read_text(encoding="utf-8"))
        skill = skills[again.id]
        assert (again.title, again.description, again.instructions) == (
            skill.title,
            skill.description,
            skill.instructions,
        )
