"""The skill pages' actions: history and rollback, archive, delete, export, import."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from skills.files import file_contents
from skills.models import Skill, SkillStatus, SkillVersion
from skills.services import skill_update
from tests.factories import make_skill
from tests.proxy.api.skills_helpers import skill_md, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def _upload(client, name: str, content: bytes, **fields: str):
    kind = "application/zip" if name.endswith(".zip") else "text/markdown"
    data = {"file": SimpleUploadedFile(name, content, kind), **fields}
    return client.post(reverse("skill-import"), data)


# -- history and rollback -------------------------------------------------------------


def test_history_lists_versions_newest_first_with_coloured_diffs(alice_client, user):
    # given
    skill = make_skill(owner=user, description="First wording of the skill.")
    skill_update(skill_id=skill.pk, description="Second wording of the skill.")
    # when
    response = alice_client.get(reverse("skill-history", kwargs={"skill_id": skill.pk}))
    # then
    assert response.status_code == 200
    html = _html(response)
    assert html.index('id="v2"') < html.index('id="v1"')
    assert '<span class="diff-line diff-del">-description: &quot;First wording' in html
    assert '<span class="diff-line diff-add">+description: &quot;Second wording' in html
    assert '<span class="diff-line diff-hunk">@@' in html
    assert "<details open>" in html and html.count("<details open>") == 1
    # Only the non-current version offers a rollback.
    assert 'name="to_number" value="1"' in html
    assert 'name="to_number" value="2"' not in html


def test_history_compare_against_current_and_bad_compare_values(alice_client, user):
    skill = make_skill(owner=user, description="Alpha wording.")
    skill_update(skill_id=skill.pk, description="Beta wording.")
    url = reverse("skill-history", kwargs={"skill_id": skill.pk})

    good = alice_client.get(url, {"compare": "1"})
    missing = alice_client.get(url, {"compare": "9"})
    junk = alice_client.get(url, {"compare": "two"})

    assert good.status_code == 200
    assert "Version #1 compared with the current version #2" in _html(good)
    assert missing.status_code == 400 and "no version #9" in _html(missing)
    assert junk.status_code == 400 and "version number" in _html(junk)


def test_rollback_adds_a_version_equal_to_the_old_one(alice_client, user):
    # given
    skill = make_skill(owner=user, description="The original wording.")
    skill_update(skill_id=skill.pk, description="A later wording.")
    # when
    response = alice_client.post(
        reverse("skill-rollback", kwargs={"skill_id": skill.pk}),
        {"to_number": "1", "version_number": "2"},
        follow=True,
    )
    # then
    skill.refresh_from_db()
    assert skill.version_number == 3
    assert skill.description == "The original wording."
    v1, v3 = (SkillVersion.objects.get(skill=skill, number=n) for n in (1, 3))
    assert v3.skill_md == v1.skill_md and v3.origin == "rollback"
    assert "Rolled back to #1 as new version #3" in _html(response)


def test_rollback_from_a_stale_history_page_changes_nothing(alice_client, user):
    skill = make_skill(owner=user, description="The original wording.")
    skill_update(skill_id=skill.pk, description="A later wording.")
    skill_update(skill_id=skill.pk, description="Yet another wording.")

    response = alice_client.post(
        reverse("skill-rollback", kwargs={"skill_id": skill.pk}),
        {"to_number": "1", "version_number": "2"},
        follow=True,
    )

    assert "changed since you opened its history" in _html(response)
    skill.refresh_from_db()
    assert skill.version_number == 3
    assert skill.description == "Yet another wording."


def test_rollback_to_a_missing_version_is_a_message(alice_client, user):
    skill = make_skill(owner=user)

    response = alice_client.post(
        reverse("skill-rollback", kwargs={"skill_id": skill.pk}),
        {"to_number": "7"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Nothing was rolled back" in _html(response)
    skill.refresh_from_db()
    assert skill.version_number == 1


# -- status and delete ---------------------------------------------------------------------


def test_archive_then_restore(alice_client, user):
    skill = make_skill(owner=user)
    url = reverse("skill-status", kwargs={"skill_id": skill.pk})

    archived = alice_client.post(url, {"status": "archived"}, follow=True)
    skill.refresh_from_db()
    assert skill.status == SkillStatus.ARCHIVED
    assert f"Archived “{skill.name}”" in _html(archived)
    assert ">Restore</button>" in _html(archived)

    restored = alice_client.post(url, {"status": "active"}, follow=True)
    skill.refresh_from_db()
    assert skill.status == SkillStatus.ACTIVE
    assert f"Restored “{skill.name}”" in _html(restored)
    assert skill.version_number == 3


def test_unknown_status_is_a_message_and_changes_nothing(alice_client, user):
    skill = make_skill(owner=user)

    response = alice_client.post(
        reverse("skill-status", kwargs={"skill_id": skill.pk}),
        {"status": "deleted"},
        follow=True,
    )

    assert "Unknown status" in _html(response)
    skill.refresh_from_db()
    assert (skill.status, skill.version_number) == (SkillStatus.ACTIVE, 1)


def test_delete_removes_the_skill_and_returns_to_the_list(alice_client, user):
    skill = make_skill(owner=user)
    keep = make_skill(owner=user)

    response = alice_client.post(
        reverse("skill-delete", kwargs={"skill_id": skill.pk}), follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("skill-list")
    assert f"Deleted “{skill.name}”" in _html(response)
    assert not Skill.objects.filter(pk=skill.pk).exists()
    assert not SkillVersion.objects.filter(skill_id=skill.pk).exists()
    assert Skill.objects.filter(pk=keep.pk).exists()


# -- export -----------------------------------------------------------------------------------


def test_export_zip_is_the_skill_folder(alice_client, user):
    skill = make_skill(owner=user, files={"scripts/check.py": b"print('ok')\n"})

    response = alice_client.get(reverse("skill-export", kwargs={"skill_id": skill.pk}))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="{skill.name}.zip"' in response["Content-Disposition"]
    archive = _zip(response)
    assert sorted(archive.namelist()) == [
        f"{skill.name}/SKILL.md",
        f"{skill.name}/scripts/check.py",
    ]
    assert (
        archive.read(f"{skill.name}/SKILL.md").decode()
        == SkillVersion.objects.get(skill=skill, number=1).skill_md
    )


def test_library_skill_can_be_exported_by_a_reader(alice_client, library):
    skill = make_skill(library=library)

    response = alice_client.get(reverse("skill-export", kwargs={"skill_id": skill.pk}))

    assert response.status_code == 200
    assert _zip(response).namelist() == [f"{skill.name}/SKILL.md"]


def test_export_all_holds_only_the_users_own_skills(
    alice_client, user, other_user, library
):
    # given
    first = make_skill(owner=user, files={"references/a.md": b"# A"})
    second = make_skill(owner=user)
    skill_update(skill_id=second.pk, status=SkillStatus.ARCHIVED)
    make_skill(owner=other_user)
    make_skill(library=library)
    # when
    response = alice_client.get(reverse("skill-export-all"))
    # then
    assert response.status_code == 200
    assert 'filename="skills-alice.zip"' in response["Content-Disposition"]
    assert sorted(_zip(response).namelist()) == sorted(
        [
            f"{first.name}/SKILL.md",
            f"{first.name}/references/a.md",
            f"{second.name}/SKILL.md",
        ]
    )


def test_export_all_without_skills_explains(alice_client):
    response = alice_client.get(reverse("skill-export-all"), follow=True)

    assert "no skills of your own to export" in _html(response)


# -- import -----------------------------------------------------------------------------------


def test_import_page_has_a_multipart_form_with_csrf(alice_client):
    html = _html(alice_client.get(reverse("skill-import")))

    assert 'enctype="multipart/form-data"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="library"' not in html  # the target library is for staff only


def test_import_zip_creates_skills_and_shows_the_report(alice_client, user):
    archive = zip_bytes(
        {
            "pg-vacuum/SKILL.md": skill_md("pg-vacuum", description="Tune vacuum."),
            "pg-vacuum/scripts/run.sh": "vacuumdb --all\n",
            "csv-tidy/SKILL.md": skill_md("csv-tidy", description="Tidy CSV files."),
        }
    )

    response = _upload(alice_client, "bundle.zip", archive, include_files="on")

    assert response.status_code == 200, _html(response)
    html = _html(response)
    assert "2 created, 0 updated, 0 unchanged, 0 skipped" in html
    vacuum = Skill.objects.get(owner=user, name="pg-vacuum")
    assert reverse("skill-detail", kwargs={"skill_id": vacuum.pk}) in html
    assert file_contents(vacuum) == {"scripts/run.sh": b"vacuumdb --all\n"}
    again = _html(_upload(alice_client, "bundle.zip", archive))
    assert "0 created" in again and Skill.objects.filter(owner=user).count() == 2


def test_import_single_skill_md(alice_client, user):
    text = skill_md("mail-merge", description="Merge mail from a sheet.")

    response = _upload(alice_client, "SKILL.md", text.encode())

    assert response.status_code == 200
    assert "1 created" in _html(response)
    assert Skill.objects.get(owner=user).name == "mail-merge"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.pdf", b"%PDF-1.7 not a skill", "neither a .zip archive nor a SKILL.md"),
        ("bad.zip", b"PK\x03\x04 truncated garbage", "not a readable zip"),
        (
            "evil.zip",
            zip_bytes({"../evil/SKILL.md": skill_md("evil", description="Escape.")}),
            "zip-slip",
        ),
        ("empty.zip", zip_bytes({"readme.txt": "no skills here"}), "no SKILL.md"),
    ],
)
def test_bad_uploads_show_a_message_and_import_nothing(
    alice_client, user, name, content, message
):
    response = _upload(alice_client, name, content)

    assert response.status_code == 400
    html = _html(response)
    assert "Nothing imported" in html and message in html
    assert 'role="alert"' in html
    assert not Skill.objects.filter(owner=user).exists()


def test_import_without_a_file_asks_for_one(alice_client, user):
    response = alice_client.post(reverse("skill-import"), {})

    assert response.status_code == 400
    assert "Choose a .zip archive or a SKILL.md" in _html(response)


@pytest.mark.parametrize(
    "size",
    [
        5_000,  # under the declared-length slack: stopped while the body streams in
        100_000,  # over it: refused from Content-Length before the body is read
    ],
)
def test_oversized_upload_is_refused_before_import(alice_client, user, settings, size):
    settings.AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES = 1000

    response = _upload(alice_client, "big.zip", b"PK\x03\x04" + b"\0" * size)

    assert response.status_code == 413
    html = _html(response)
    assert "Nothing imported" in html and re.search(
        r"limit is 1000|1000 byte limit", html
    )
    assert not Skill.objects.filter(owner=user).exists()


def test_import_needs_the_csrf_token(user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    text = skill_md("mail-merge", description="Merge mail from a sheet.")

    response = _upload(strict, "SKILL.md", text.encode())

    assert response.status_code == 403
    assert not Skill.objects.filter(owner=user).exists()


def test_import_with_a_csrf_token_streams_through_the_size_limit(user, settings):
    """The real CSRF path: the token is checked inside, after the size guard."""
    from django.test import Client

    # given a browser-like client that sends the form's token
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    strict.get(reverse("skill-import"))
    token = {"csrfmiddlewaretoken": strict.cookies["csrftoken"].value}
    text = skill_md("mail-merge", description="Merge mail from a sheet.")
    # when
    accepted = _upload(strict, "SKILL.md", text.encode(), **token)
    settings.AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES = 1000
    refused = _upload(strict, "big.zip", b"PK\x03\x04" + b"\0" * 5_000, **token)
    # then
    assert accepted.status_code == 200, _html(accepted)
    assert Skill.objects.get(owner=user).name == "mail-merge"
    assert refused.status_code == 413 and "Nothing imported" in _html(refused)


def test_staff_can_import_into_a_library(client, user, library):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    assert 'name="library"' in _html(client.get(reverse("skill-import")))
    text = skill_md("team-style", description="The team's writing style.")

    response = _upload(client, "SKILL.md", text.encode(), library="team")

    assert response.status_code == 200
    assert Skill.objects.get(name="team-style").library == library
