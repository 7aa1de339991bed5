"""Export (md, zip) and import (uploaded zip or SKILL.md, with hostile archives)."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from skills.files import file_contents
from skills.models import Skill
from tests.factories import make_skill
from tests.proxy.api import skills_helpers as helpers
from tests.proxy.api.skills_helpers import error_of, skill_md, zip_bytes

pytestmark = pytest.mark.django_db
api, bob_api = helpers.api, helpers.bob_api


RELEASE_MD = skill_md("release-notes", description="Write release notes the team way.")
VACUUM_MD = skill_md("pg-vacuum", description="Tune PostgreSQL autovacuum.")


def test_export_md_is_a_markdown_download(api, user):
    skill = make_skill(owner=user)

    response = api.get(f"/{skill.pk}/export", {"format": "md"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{skill.name}.md"'
    assert response.content.decode() == api.get(f"/{skill.pk}/md").content.decode()
    assert response["ETag"] == api.get(f"/{skill.pk}")["ETag"]


def test_export_zip_holds_the_skill_folder_with_its_files(api, user):
    skill = make_skill(
        owner=user,
        files={"scripts/check.py": b"print('ok')\n", "references/style.md": b"# Style"},
    )

    response = api.get(f"/{skill.pk}/export", {"format": "zip"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="{skill.name}.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(
        f"{skill.name}/{path}"
        for path in ("SKILL.md", "scripts/check.py", "references/style.md")
    )
    assert archive.read(f"{skill.name}/scripts/check.py") == b"print('ok')\n"
    md = archive.read(f"{skill.name}/SKILL.md").decode()
    assert md == api.get(f"/{skill.pk}/md").content.decode()


def test_an_exported_zip_imports_into_another_account(api, bob_api, user, other_user):
    skill = make_skill(owner=user, files={"scripts/check.py": b"print('ok')\n"})
    exported = b"".join(
        api.get(f"/{skill.pk}/export", {"format": "zip"}).streaming_content
    )

    response = bob_api.upload(f"{skill.name}.zip", exported)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ok"] is True and body["imported_count"] == 1
    copy = Skill.objects.get(pk=body["created"][0])
    assert copy.owner == other_user and copy.pk != skill.pk
    assert (copy.name, copy.description) == (skill.name, skill.description)
    assert copy.instructions == skill.instructions
    assert file_contents(copy) == {"scripts/check.py": b"print('ok')\n"}


def test_unknown_export_format_is_400(api, user):
    skill = make_skill(owner=user)

    response = api.get(f"/{skill.pk}/export", {"format": "tar"})

    assert response.status_code == 400
    assert error_of(response)["param"] == "format"


def test_import_a_single_skill_md(api, user):
    response = api.upload("SKILL.md", RELEASE_MD.encode())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["object"] == "skill_import"
    skill = Skill.objects.get(pk=body["created"][0])
    assert skill.owner == user
    assert skill.name == "release-notes"
    assert skill.description == "Write release notes the team way."
    assert [item["id"] for item in body["data"]] == [str(skill.pk)]
    assert skill.versions.get().origin == "import"


def test_reimport_finds_the_same_skill_and_overwrite_decides(api, user):
    api.upload("SKILL.md", RELEASE_MD.encode())
    changed = RELEASE_MD.replace("Do the thing.", "Do it better.")

    same = api.upload("SKILL.md", RELEASE_MD.encode()).json()
    skipped = api.upload("SKILL.md", changed.encode()).json()
    updated = api.upload("SKILL.md", changed.encode(), overwrite="true")

    assert same["unchanged"] and not same["created"]
    assert skipped["skipped"][0]["path"] == "release-notes"
    assert "overwrite=true" in skipped["skipped"][0]["message"]
    assert updated.status_code == 200
    assert updated.json()["updated"] == same["unchanged"]
    assert Skill.objects.get(owner=user).instructions.endswith("Do it better.")


def test_import_a_zip_of_several_skill_folders_with_resources(api, user):
    archive = zip_bytes(
        {
            "bundle/release-notes/SKILL.md": RELEASE_MD,
            "bundle/release-notes/scripts/lint.sh": "echo ok\n",
            "bundle/pg-vacuum/SKILL.md": VACUUM_MD,
            "bundle/pg-vacuum/notes.txt": "hot tables\n",
            "__MACOSX/bundle/._SKILL.md": b"\x00\x05",
            "bundle/.DS_Store": b"\x00",
        }
    )

    response = api.upload("bundle.zip", archive)

    assert response.status_code == 201, response.content
    skills = {s.name: s for s in Skill.objects.filter(owner=user)}
    assert set(skills) == {"release-notes", "pg-vacuum"}
    assert file_contents(skills["release-notes"]) == {"scripts/lint.sh": b"echo ok\n"}
    # Files outside scripts/ references/ assets/ are filed under a fitting root.
    assert file_contents(skills["pg-vacuum"]) == {
        "references/notes.txt": b"hot tables\n"
    }
    assert response.json()["imported_count"] == 2


def test_include_files_false_imports_only_the_skill_md(api, user):
    archive = zip_bytes({"a/SKILL.md": RELEASE_MD, "a/scripts/x.sh": "echo\n"})

    api.upload("a.zip", archive, include_files="false")

    assert file_contents(Skill.objects.get(owner=user)) == {}


def test_a_skill_md_at_the_archive_root_is_one_skill(api, user):
    response = api.upload("release.zip", zip_bytes({"SKILL.md": RELEASE_MD}))

    assert response.status_code == 201
    assert Skill.objects.get(owner=user).name == "release-notes"


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ({"../evil/SKILL.md": RELEASE_MD}, "zip_slip"),
        ({"ok/../../evil/SKILL.md": RELEASE_MD}, "zip_slip"),
        ({"/etc/cron.d/SKILL.md": RELEASE_MD}, "zip_unsafe_path"),
        ({"C:/x/SKILL.md": RELEASE_MD}, "zip_unsafe_path"),
        ({"a\\..\\..\\SKILL.md": RELEASE_MD}, "zip_unsafe_path"),
    ],
)
def test_zip_slip_and_absolute_paths_are_refused(api, user, entries, code):
    response = api.upload(
        "evil.zip", zip_bytes({"good/SKILL.md": VACUUM_MD, **entries})
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == code
    assert not Skill.objects.exists()  # refused as a whole, the good entry too


def test_symlink_entries_are_refused(api, user):
    archive = zip_bytes(
        {"s/SKILL.md": RELEASE_MD}, symlinks={"s/scripts/passwd": "/etc/passwd"}
    )

    response = api.upload("links.zip", archive)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "zip_symlink"
    assert "s/scripts/passwd" in error["message"]
    assert not Skill.objects.exists()


def test_a_zip_bomb_entry_is_refused_by_ratio(api, user):
    archive = zip_bytes(
        {"b/SKILL.md": RELEASE_MD, "b/assets/zeros.bin": b"\0" * (4 << 20)}
    )
    assert len(archive) < 100_000  # 4 MiB of zeros compress about 1000x

    response = api.upload("bomb.zip", archive)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "zip_bomb"
    assert "b/assets/zeros.bin" in error["message"]


def test_the_total_expanded_size_is_limited(api, user, settings):
    settings.AUTOSKILL_IMPORT_MAX_UNCOMPRESSED_BYTES = 50_000
    entries = {f"s/references/r{n}.md": os.urandom(20_000) for n in range(3)}

    response = api.upload("big.zip", zip_bytes({"s/SKILL.md": RELEASE_MD, **entries}))

    assert response.status_code == 400
    assert error_of(response)["code"] == "zip_bomb"


def test_the_entry_count_is_limited(api, user, settings):
    settings.AUTOSKILL_IMPORT_MAX_ENTRIES = 3
    entries = {f"s/references/r{n}.md": "x" for n in range(3)}

    response = api.upload("many.zip", zip_bytes({"s/SKILL.md": RELEASE_MD, **entries}))

    assert response.status_code == 400
    assert error_of(response)["code"] == "zip_too_many_entries"


@pytest.mark.parametrize(
    ("size", "message"),
    [
        # Within the multipart slack: stopped while streaming by the upload handler.
        (20_000, "The upload is over the 10000 byte limit."),
        # Far over: refused from Content-Length before the body is read.
        (200_000, "; the limit is 10000."),
    ],
)
def test_an_upload_over_the_size_limit_is_413(api, user, settings, size, message):
    settings.AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES = 10_000
    archive = zip_bytes({"s/SKILL.md": RELEASE_MD, "s/assets/x.bin": os.urandom(size)})

    response = api.upload("big.zip", archive)

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert message in error["message"]
    assert not Skill.objects.exists()


def test_an_oversized_entry_is_skipped_with_a_note(api, user, settings):
    settings.AUTOSKILL_MAX_FILE_BYTES = 5_000
    archive = zip_bytes({"s/SKILL.md": RELEASE_MD, "s/assets/x.bin": os.urandom(6_000)})

    response = api.upload("s.zip", archive)

    assert response.status_code == 201
    assert {
        "path": "s/assets/x.bin",
        "message": "skipped: 6000 bytes; the limit is 5000",
    } in response.json()["notes"]
    assert file_contents(Skill.objects.get(owner=user)) == {}


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("notes.zip", zip_bytes({"readme.txt": "hello"}), 400, "no_skill_md"),
        ("broken.zip", b"PK\x03\x04" + b"\x00" * 64, 400, "zip_invalid"),
        ("picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, 415, "unsupported_upload"),
        ("SKILL.md", b"---\nname: [unclosed\n---\n", 400, "invalid_input"),
        ("SKILL.md", b"\xff\xfe bad", 400, "invalid_input"),
        ("SKILL.md", b"  \n", 400, "invalid_input"),
    ],
)
def test_unusable_uploads_get_clear_errors(api, user, name, content, status, code):
    response = api.upload(name, content)

    assert response.status_code == status, response.content
    assert error_of(response)["code"] == code
    assert not Skill.objects.exists()


def test_a_server_path_is_never_accepted(api, user):
    response = api.send_json(
        "post", "/import", {"root_dir": "/etc", "zip_path": "/x.zip"}
    )

    assert response.status_code == 415
    assert not Skill.objects.exists()


def test_a_missing_file_field_is_400(api, user):
    response = api.client.post(
        "/v1/autoskill/skills/import", {"overwrite": "true"}, **api.auth
    )

    assert response.status_code == 400
    assert error_of(response)["param"] == "file"


def test_only_staff_import_into_a_library(api, user, library):
    denied = api.upload("SKILL.md", RELEASE_MD.encode(), library="team")
    user.is_staff = True
    user.save()
    allowed = api.upload("SKILL.md", RELEASE_MD.encode(), library="team")
    unknown = api.upload("SKILL.md", RELEASE_MD.encode(), library="nope")

    assert denied.status_code == 403
    assert allowed.status_code == 201
    assert Skill.objects.get(pk=allowed.json()["created"][0]).library == library
    assert unknown.status_code == 400
