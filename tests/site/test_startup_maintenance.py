"""manage.py startup_maintenance: the original's startup steps on the database as truth."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_tasks_db.models import DBTaskResult

from proxy.auth import AuthenticationFailed, api_key_authenticate
from proxy.models import ApiKey
from proxy.static_key import STATIC_KEY_NAME
from retrieval.models import SkillEmbedding
from skills.models import Library, Skill
from tests.factories import make_skill

pytestmark = pytest.mark.django_db

STATIC = "team-static-key-0123456789"


@pytest.fixture(autouse=True)
def nothing_but_asked(settings):
    """Each test turns on the steps it is about."""
    settings.AUTOSKILL_PROXY_API_KEY = ""
    settings.AUTOSKILL_AUTO_NORMALIZE_IDS = False
    settings.AUTOSKILL_AUTO_IMPORT_DIRS = []
    settings.AUTOSKILL_AUTO_REFRESH_SKILLS = False
    settings.AUTOSKILL_AUTO_REFRESH_BLOCKING = False
    settings.AUTOSKILL_AUTO_IMPORT_SCOPE = "common"
    settings.AUTOSKILL_AUTO_IMPORT_LIBRARY = ""
    settings.AUTOSKILL_AUTO_IMPORT_USER = ""
    settings.AUTOSKILL_USER_ID = "u1"


def _run(**options) -> tuple[str, str]:  # noqa: ANN003
    out, err = io.StringIO(), io.StringIO()
    call_command("startup_maintenance", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _skill_folder(root: Path, name: str, *, title: str, skill_id: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    id_line = f"id: {skill_id}\n" if skill_id else ""
    (folder / "SKILL.md").write_text(
        f"---\n{id_line}name: {name}\ndescription: {title} for the team.\n"
        f"version: 0.1.0\n---\n# {title}\n\n## Prompt\nDo {title.lower()} well.\n",
        encoding="utf-8",
    )
    return folder


# -- 1. normalise ids: heal the mirror ------------------------------------------


def test_a_skill_md_that_lost_its_id_is_rewritten_from_the_database(
    settings, store_dir, user, on_commit
):
    # given
    settings.AUTOSKILL_AUTO_NORMALIZE_IDS = True
    with on_commit():
        skill = make_skill(owner=user, title="Weekly report")
    skill_md = store_dir / "Users" / "alice" / skill.name / "SKILL.md"
    text = skill_md.read_text()
    skill_md.write_text(text.replace(f'id: "{skill.pk}"', ""))
    assert str(skill.pk) not in skill_md.read_text()
    # when
    out, _ = _run()
    # then
    assert skill_md.read_text() == text
    assert "1 folder(s) rewritten" in out
    assert "0 folder(s) rewritten" in _run()[0]  # nothing left to heal


def test_a_missing_folder_comes_back_and_unknown_folders_are_left_alone(
    settings, store_dir, user, on_commit
):
    # given
    settings.AUTOSKILL_AUTO_NORMALIZE_IDS = True
    with on_commit():
        skill = make_skill(owner=user, title="Weekly report")
    folder = store_dir / "Users" / "alice" / skill.name
    (folder / "SKILL.md").unlink()
    stray = _skill_folder(store_dir / "Users" / "alice", "hand-made", title="Notes")
    # when
    out, _ = _run()
    # then
    assert str(skill.pk) in (folder / "SKILL.md").read_text()
    assert (stray / "SKILL.md").is_file()  # never deleted at startup
    assert "Users/alice/hand-made" in out


def test_an_original_skillbank_is_adopted_into_an_empty_database(settings, store_dir):
    """People coming from the original point AUTOSKILL_STORE_DIR at their SkillBank."""
    # given
    settings.AUTOSKILL_AUTO_NORMALIZE_IDS = True
    original_id = str(uuid.uuid4())
    _skill_folder(
        store_dir / "Users" / "u7",
        "pdf-tables",
        title="PDF tables",
        skill_id=original_id,
    )
    _skill_folder(store_dir / "Common", "commit-messages", title="Commit messages")
    # when
    out, _ = _run()
    # then
    adopted = Skill.objects.get(pk=original_id)
    assert adopted.owner.get_username() == "u7"
    assert Skill.objects.filter(library__isnull=False).count() == 1
    assert "adopted the SkillBank: 2 skills imported" in out
    text = (store_dir / "Users" / "u7" / "pdf-tables" / "SKILL.md").read_text()
    assert f'id: "{original_id}"' in text  # rewritten in our format, same id


def test_a_skillbank_is_never_adopted_into_a_database_with_skills(
    settings, store_dir, user
):
    settings.AUTOSKILL_AUTO_NORMALIZE_IDS = True
    make_skill(owner=user)
    _skill_folder(store_dir / "Users" / "u7", "pdf-tables", title="PDF tables")
    out, _ = _run()
    assert "adopted" not in out
    assert not Skill.objects.filter(name="pdf-tables").exists()


# -- 2. auto import ---------------------------------------------------------------


def test_auto_import_into_a_library_is_idempotent(settings, tmp_path):
    # given
    source = tmp_path / "team-skills"
    _skill_folder(source, "weekly-report", title="Weekly report")
    _skill_folder(source / "nested", "release-notes", title="Release notes")
    settings.AUTOSKILL_AUTO_IMPORT_DIRS = [str(source), str(source) + "/"]
    # when
    first, _ = _run()
    second, _ = _run()
    # then
    library = Library.objects.get(slug="team-skills")  # named after the folder
    assert Skill.objects.filter(library=library).count() == 2
    assert first.count("import:") == 1  # the same folder twice is imported once
    assert "2 created, 0 updated, 0 unchanged" in first
    assert "0 created, 0 updated, 2 unchanged" in second
    assert all(s.version_number == 1 for s in Skill.objects.all())


def test_a_changed_folder_is_skipped_unless_overwrite(settings, tmp_path):
    source = tmp_path / "src"
    folder = _skill_folder(source, "weekly-report", title="Weekly report")
    settings.AUTOSKILL_AUTO_IMPORT_DIRS = [str(source)]
    settings.AUTOSKILL_AUTO_IMPORT_LIBRARY = "Team"
    _run()
    skill_md = folder / "SKILL.md"
    skill_md.write_text(skill_md.read_text().replace("well", "very well"))
    assert "1 skipped" in _run()[0]
    settings.AUTOSKILL_AUTO_IMPORT_OVERWRITE = True
    assert "1 updated" in _run()[0]
    skill = Skill.objects.get(library__slug="team")
    assert skill.version_number == 2 and "very well" in skill.instructions


def test_auto_import_into_a_user(settings, tmp_path):
    source = tmp_path / "mine"
    _skill_folder(source, "weekly-report", title="Weekly report")
    settings.AUTOSKILL_AUTO_IMPORT_DIRS = [str(source)]
    settings.AUTOSKILL_AUTO_IMPORT_SCOPE = "user"
    settings.AUTOSKILL_AUTO_IMPORT_USER = "carol"
    out, _ = _run()
    carol = get_user_model().objects.get(username="carol")
    assert Skill.objects.get(name="weekly-report").owner == carol
    assert "-> user carol" in out


def test_a_missing_folder_is_reported_and_later_steps_still_run(settings, tmp_path):
    settings.AUTOSKILL_AUTO_IMPORT_DIRS = [str(tmp_path / "absent")]
    settings.AUTOSKILL_AUTO_REFRESH_SKILLS = True
    err = io.StringIO()
    with pytest.raises(CommandError, match="import"):
        call_command("startup_maintenance", stdout=io.StringIO(), stderr=err)
    assert "absent: not a folder" in err.getvalue()
    assert DBTaskResult.objects.filter(
        task_path="retrieval.tasks.refresh_indexes"
    ).exists()


# -- 3. refresh -----------------------------------------------------------------


def test_the_refresh_is_a_job_for_the_worker_by_default(settings):
    settings.AUTOSKILL_AUTO_REFRESH_SKILLS = True
    out, _ = _run()
    (job,) = DBTaskResult.objects.filter(task_path="retrieval.tasks.refresh_indexes")
    assert job.queue_name == "default" and job.status == "READY"
    assert str(job.id) in out


def test_a_blocking_refresh_computes_missing_vectors(settings, user):
    # given
    settings.AUTOSKILL_AUTO_REFRESH_SKILLS = True
    make_skill(owner=user)
    make_skill(owner=user)
    SkillEmbedding.objects.all().delete()
    # when
    out, _ = _run(blocking=True)
    # then
    assert SkillEmbedding.objects.count() == 2
    assert "2 vectors computed" in out
    assert not DBTaskResult.objects.exists()


def test_imported_skills_get_their_vectors_from_the_job_not_at_exit(settings, tmp_path):
    """With a queued refresh the import embeds nothing in this process (startup is
    not held); the job then computes every vector."""
    from retrieval.tasks import refresh_indexes

    # given
    source = tmp_path / "src"
    _skill_folder(source, "weekly-report", title="Weekly report")
    _skill_folder(source, "release-notes", title="Release notes")
    settings.AUTOSKILL_AUTO_IMPORT_DIRS = [str(source)]
    settings.AUTOSKILL_AUTO_REFRESH_SKILLS = True
    # when
    _run()
    # then
    assert Skill.objects.count() == 2
    assert SkillEmbedding.objects.count() == 0
    assert settings.AUTOSKILL_EMBEDDINGS_PROVIDER == "hashing"  # restored
    refresh_indexes.call(force_vectors=False)
    assert SkillEmbedding.objects.count() == 2


def test_the_queued_job_does_the_same(settings, user):
    from retrieval.tasks import refresh_indexes

    make_skill(owner=user)
    SkillEmbedding.objects.all().delete()
    summary = refresh_indexes.call(force_vectors=False)
    assert SkillEmbedding.objects.count() == 1
    assert summary.startswith("1 vectors computed")


# -- 0. the original's static key ---------------------------------------------------


def test_the_static_key_becomes_an_api_key_of_the_default_user(settings):
    # given
    settings.AUTOSKILL_PROXY_API_KEY = STATIC
    # when
    out, _ = _run()
    _run()  # a restart reuses it
    # then
    (key,) = ApiKey.objects.filter(name=STATIC_KEY_NAME)
    assert key.owner.get_username() == "u1" and key.owner.is_active
    assert STATIC not in key.key_hash and STATIC not in out
    assert api_key_authenticate(secret=STATIC) == key


def test_a_new_static_key_replaces_the_old_one(settings):
    settings.AUTOSKILL_PROXY_API_KEY = STATIC
    _run()
    settings.AUTOSKILL_PROXY_API_KEY = STATIC + "-rotated"
    out, _ = _run()
    assert "1 earlier static key(s) revoked" in out
    with pytest.raises(AuthenticationFailed):
        api_key_authenticate(secret=STATIC)
    assert api_key_authenticate(secret=STATIC + "-rotated").prefix.startswith("static_")


def test_the_static_key_only_works_while_it_is_configured(settings):
    settings.AUTOSKILL_PROXY_API_KEY = STATIC
    _run()
    settings.AUTOSKILL_PROXY_API_KEY = ""
    with pytest.raises(AuthenticationFailed):
        api_key_authenticate(secret=STATIC)


def test_a_short_static_key_is_refused(settings):
    settings.AUTOSKILL_PROXY_API_KEY = "short"
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("startup_maintenance", stdout=io.StringIO(), stderr=err)
    assert "16 to 200 characters" in err.getvalue()
    assert not ApiKey.objects.exists()
