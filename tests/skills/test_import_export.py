from __future__ import annotations

import os
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from skills_ref.validator import validate

from skills.models import Library, Skill, SkillFile

pytestmark = pytest.mark.django_db

BENCH_DEV = Path(__file__).resolve().parents[3] / "shared" / "bench" / "dev" / "skills"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "agent-skills"

LEGACY = """---
id: "{id}"
name: "Weekly Report Writer"
description: "Writes weekly reports with wins, risks and next steps."
version: 2
tags:
  - "report"
triggers:
  - "write my weekly report"
examples:
  - input: "report for week 12"
    output: "Wins: ..."
---

# Weekly Report Writer

Writes weekly reports with wins, risks and next steps.

## Prompt

# Goal
Write the report.

# Constraints & Style
- Three sections.

## Triggers

- write my weekly report
"""


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _run(*args: str) -> str:
    out = StringIO()
    call_command("import_skills", *args, "--no-progress", stdout=out, stderr=out)
    return out.getvalue()


def test_legacy_import_keeps_ids_and_every_field(user, tmp_path):
    """--keep-ids uses the frontmatter id; `# Goal` headings stay inside the prompt."""
    # given
    skill_id = "00022b22-74b3-430e-a14a-4ec4ec0c6ab9"
    _write(tmp_path / "src", "a/SKILL.md", LEGACY.format(id=skill_id))
    # when
    output = _run(str(tmp_path / "src"), "--user", "alice", "--keep-ids")
    # then
    skill = Skill.objects.get(pk=skill_id)
    assert "1 created" in output
    assert (
        skill.title == "Weekly Report Writer" and skill.name == "weekly-report-writer"
    )
    assert skill.version == "2.0.0"
    assert (
        skill.instructions
        == "# Goal\nWrite the report.\n\n# Constraints & Style\n- Three sections."
    )
    assert skill.triggers == ["write my weekly report"] and skill.tags == ["report"]
    assert skill.examples == [{"input": "report for week 12", "output": "Wins: ..."}]
    assert skill.owner == user and skill.provenance["format"] == "legacy"


def test_reimport_is_idempotent_and_overwrite_updates(user, tmp_path):
    src = tmp_path / "src"
    path = _write(
        src, "a/SKILL.md", LEGACY.format(id="11111111-1111-4111-8111-111111111111")
    )
    _run(str(src), "--user", "alice", "--keep-ids")
    # when: same files again
    again = _run(str(src), "--user", "alice", "--keep-ids")
    # then
    assert "1 unchanged" in again and Skill.objects.count() == 1
    # when: the file changed, without and with --overwrite
    path.write_text(path.read_text().replace("Three sections.", "Four sections."))
    skipped = _run(str(src), "--user", "alice", "--keep-ids")
    assert "1 skipped" in skipped
    updated = _run(str(src), "--user", "alice", "--keep-ids", "--overwrite")
    assert "1 updated" in updated
    skill = Skill.objects.get()
    assert skill.instructions.endswith("Four sections.") and skill.version_number == 2


def test_without_keep_ids_reimport_finds_the_same_skills(user, tmp_path):
    src = tmp_path / "src"
    _write(src, "x/SKILL.md", LEGACY.format(id="22222222-2222-4222-8222-222222222222"))
    _run(str(src), "--user", "alice")
    _run(str(src), "--user", "alice")
    skill = Skill.objects.get()
    assert str(skill.pk) != "22222222-2222-4222-8222-222222222222"


def test_broken_file_is_reported_and_the_batch_goes_on(user, tmp_path):
    src = tmp_path / "src"
    _write(
        src, "good/SKILL.md", LEGACY.format(id="33333333-3333-4333-8333-333333333333")
    )
    _write(src, "bad/SKILL.md", "---\nname: [unclosed\n---\nbody")
    (src / "bin").mkdir()
    (src / "bin" / "SKILL.md").write_bytes(b"---\x00binary")
    output = _run(str(src), "--user", "alice", "--keep-ids")
    assert "1 created" in output and "2 errors" in output
    assert "bad" in output and "binary" in output


def test_symlinks_and_oversized_files_are_skipped(user, tmp_path, settings):
    settings.AUTOSKILL_MAX_FILE_BYTES = 10_000
    src = tmp_path / "src"
    _write(src, "s/SKILL.md", LEGACY.format(id="44444444-4444-4444-8444-444444444444"))
    _write(src, "s/scripts/ok.py", "print(1)\n")
    _write(src, "s/assets/huge.bin", "x" * 20_000)
    secret = _write(tmp_path, "secret.txt", "top secret")
    os.symlink(secret, src / "s" / "references-link.md")
    output = _run(str(src), "--user", "alice", "--keep-ids", "--include-files")
    skill = Skill.objects.get()
    assert list(
        SkillFile.objects.filter(skill=skill).values_list("path", flat=True)
    ) == ["scripts/ok.py"]
    assert "huge.bin" in output and "symbolic link" in output


def test_agent_skills_fixtures_import_with_resources_and_export_valid(
    user, tmp_path, store_dir, on_commit
):
    """Anthropic's skills import with their files; every exported folder passes the spec."""
    # when
    _run(str(FIXTURES), "--library", "anthropic", "--include-files")
    # then
    library = Library.objects.get(slug="anthropic")
    assert library.skills.count() == len(
        [p for p in FIXTURES.iterdir() if (p / "SKILL.md").is_file()]
    )
    art = library.skills.get(name="algorithmic-art")
    assert art.metadata.get("license") == "Complete terms in LICENSE.txt"
    paths = set(art.files.values_list("path", flat=True))
    assert "references/LICENSE.txt" in paths and any(
        p.startswith("assets/templates/") for p in paths
    )
    mirrored = store_dir / "Common" / "anthropic" / "algorithmic-art"
    assert validate(mirrored) == []
    # when
    out = tmp_path / "export"
    call_command("export_skills", str(out), "--library", "anthropic", stdout=StringIO())
    # then
    for folder in out.iterdir():
        assert validate(folder) == [], folder
    assert (out / "algorithmic-art" / "references" / "LICENSE.txt").is_file()


def test_export_zip_and_refusal_to_overwrite(user, tmp_path):
    _write(
        tmp_path / "src",
        "a/SKILL.md",
        LEGACY.format(id="55555555-5555-4555-8555-555555555555"),
    )
    _run(str(tmp_path / "src"), "--user", "alice", "--keep-ids")
    target = tmp_path / "out.zip"
    call_command(
        "export_skills",
        str(target),
        "--user",
        "alice",
        "--format",
        "zip",
        stdout=StringIO(),
    )
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == ["weekly-report-writer/SKILL.md"]
    with pytest.raises(CommandError, match="--force"):
        call_command("export_skills", str(target), "--user", "alice", "--format", "zip")


def test_skillbank_migration_maps_users_and_libraries(tmp_path, django_user_model):
    """Users/<uid> become (inactive) users; Common/<slug> and Common/<lib>/ become libraries."""
    bank = tmp_path / "bank"
    _write(
        bank,
        "Users/u6/report/SKILL.md",
        LEGACY.format(id="66666666-6666-4666-8666-666666666666"),
    )
    _write(
        bank,
        "Common/direct/SKILL.md",
        "---\nname: direct\ndescription: A direct common skill.\n---\nDo it.\n",
    )
    _write(
        bank,
        "Common/AwesomeLib/nested/tool/SKILL.md",
        "---\nname: tool\ndescription: A tool.\n---\nUse it.\n",
    )
    _write(bank, "ConvSkill/set/s/SKILL.md", "---\nname: s\ndescription: d\n---\nx\n")
    # when
    output = _run("--skillbank", str(bank))
    # then
    u6 = django_user_model.objects.get(username="u6")
    assert not u6.is_active and "Created inactive users: u6" in output
    assert Skill.objects.get(pk="66666666-6666-4666-8666-666666666666").owner == u6
    assert Skill.objects.get(name="direct").library.slug == "common"
    assert Skill.objects.get(name="tool").library.slug == "awesomelib"
    assert "ConvSkill" in output and "3 created" in output


def test_command_errors_are_clear(user, tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        _run(str(tmp_path / "missing"), "--user", "alice")
    with pytest.raises(CommandError, match="No user named"):
        _run(str(tmp_path), "--user", "nobody")
    with pytest.raises(CommandError, match="--user USERNAME or --library"):
        _run(str(tmp_path))
    with pytest.raises(CommandError, match="No SKILL.md"):
        _run(str(tmp_path), "--user", "alice")


@pytest.mark.skipif(not BENCH_DEV.is_dir(), reason="shared bench data not present")
def test_bench_sample_round_trips_through_import_and_mirror(
    tmp_path, store_dir, on_commit
):
    """A sample of real legacy skills keeps prompt, triggers and tags and mirrors spec-valid."""
    sample = tmp_path / "sample"
    for folder in sorted(BENCH_DEV.iterdir())[:40]:
        (sample / folder.name).mkdir(parents=True)
        (sample / folder.name / "SKILL.md").write_bytes(
            (folder / "SKILL.md").read_bytes()
        )
    _run(str(sample), "--library", "bench", "--keep-ids")
    from skills.skillmd import parse_skill_md

    for folder in sample.iterdir():
        source = parse_skill_md((folder / "SKILL.md").read_text(encoding="utf-8"))
        skill = Skill.objects.get(pk=source.id)
        assert skill.instructions == source.instructions
        assert skill.triggers == list(source.triggers) and skill.tags == list(
            source.tags
        )
        mirrored = store_dir / "Common" / "bench" / skill.name
        assert validate(mirrored) == []
        again = parse_skill_md((mirrored / "SKILL.md").read_text(encoding="utf-8"))
        assert (again.id, again.instructions, again.triggers) == (
            str(skill.pk),
            skill.instructions,
            source.triggers,
        )
