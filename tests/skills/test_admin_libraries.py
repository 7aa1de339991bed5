"""Libraries in the admin: create, counts, promote-as-copy, zip import and export."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from autoskill_site.exceptions import Conflict, Forbidden
from skills.files import file_contents
from skills.models import Library, Skill, SkillStatus, SkillVersion, VersionOrigin
from skills.services import skill_promote_copy
from tests.factories import make_skill, make_staff

pytestmark = pytest.mark.django_db

SKILLS = "admin:skills_skill_changelist"
LIBRARIES = "admin:skills_library_changelist"


@pytest.fixture
def curator(django_user_model):
    return make_staff(
        django_user_model,
        "curator",
        "view_skill",
        "change_skill",
        "promote_skill",
        "view_library",
        "add_library",
        "change_library",
    )


@pytest.fixture
def viewer(django_user_model):
    """Staff who may look at skills and libraries but not promote or import."""
    return make_staff(django_user_model, "viewer", "view_skill", "view_library")


@pytest.fixture
def editor(django_user_model):
    """Staff who may edit skills and libraries, but not promote."""
    return make_staff(
        django_user_model,
        "editor",
        "view_skill",
        "change_skill",
        "view_library",
        "change_library",
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _user_skill(owner):
    return make_skill(
        owner=owner,
        title="Incident report",
        description="Write incident reports: timeline, impact, follow-ups.",
        triggers=["write an incident report"],
        tags=["ops"],
        files={"references/template.md": b"# Timeline\n"},
    )


def _user_skill_state(skill: Skill) -> tuple:
    skill.refresh_from_db()
    return (
        skill.owner_id,
        skill.library_id,
        skill.status,
        skill.version_number,
        skill.content_hash,
        skill.provenance,
    )


# --- the service -----------------------------------------------------------------


def test_promote_copy_creates_a_draft_library_copy_with_provenance(user, library):
    """The library gets a draft copy with files; the user's skill is untouched."""
    # given
    skill = _user_skill(user)
    before = _user_skill_state(skill)
    # when
    copy = skill_promote_copy(skill_id=skill.pk, library=library, author=user)
    # then
    assert copy.pk != skill.pk
    assert (copy.library, copy.owner, copy.status) == (
        library,
        None,
        SkillStatus.DRAFT,
    )
    assert (copy.name, copy.title, copy.instructions, copy.triggers) == (
        skill.name,
        skill.title,
        skill.instructions,
        skill.triggers,
    )
    assert file_contents(copy) == {"references/template.md": b"# Timeline\n"}
    assert copy.provenance["promoted_from"] == {
        "skill_id": str(skill.pk),
        "user": "alice",
        "version": "0.1.0",
        "version_number": 1,
    }
    first = copy.versions.get()
    assert (first.origin, first.author) == (VersionOrigin.PROMOTION, user)
    assert _user_skill_state(skill) == before


def test_promote_copy_refuses_library_skills_and_repeat_copies(user, library):
    skill = _user_skill(user)
    copy = skill_promote_copy(skill_id=skill.pk, library=library)
    with pytest.raises(Forbidden, match="only a user's skill"):
        skill_promote_copy(skill_id=copy.pk, library=library)
    versions = SkillVersion.objects.count()
    with pytest.raises(Conflict, match="same description"):
        skill_promote_copy(skill_id=skill.pk, library=library)
    assert SkillVersion.objects.count() == versions


# --- libraries --------------------------------------------------------------------


def test_library_is_created_through_the_admin_form(client, curator):
    client.force_login(curator)
    response = client.post(
        reverse("admin:skills_library_add"),
        {"slug": "platform", "name": "Platform team", "description": "Shared."},
    )
    assert response.status_code == 302
    library = Library.objects.get(slug="platform")
    assert (library.name, library.description) == ("Platform team", "Shared.")


def test_a_bad_library_slug_is_shown_on_the_form(client, curator):
    client.force_login(curator)
    response = client.post(
        reverse("admin:skills_library_add"), {"slug": "Bad Slug!", "name": "x"}
    )
    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert not Library.objects.exists()


def test_the_library_slug_is_read_only_once_created(client, curator, library):
    client.force_login(curator)
    client.post(
        reverse("admin:skills_library_change", args=[library.pk]),
        {"slug": "renamed", "name": "Team two", "description": ""},
    )
    library.refresh_from_db()
    assert (library.slug, library.name) == ("team", "Team two")


def test_library_list_shows_skill_counts(client, curator, library, user):
    # given
    make_skill(library=library)
    make_skill(library=library)
    skill_promote_copy(skill_id=_user_skill(user).pk, library=library)
    client.force_login(curator)
    # when
    response = client.get(reverse(LIBRARIES))
    # then
    row = response.context["cl"].result_list[0]
    assert (row.skill_total, row.skill_active, row.skill_draft) == (3, 2, 1)
    assert 'class="field-skill_count">3<' in response.content.decode()


def test_library_changelist_queries_do_not_grow_with_rows(
    client, curator, django_assert_max_num_queries
):
    """3 libraries and 30 libraries (each with skills) cost the same queries."""

    def add_libraries(start: int, count: int) -> None:
        for n in range(start, start + count):
            library = Library.objects.create(slug=f"lib-{n}", name=f"Library {n}")
            make_skill(library=library)

    client.force_login(curator)
    client.get(reverse(LIBRARIES))  # session and content types warmed up
    add_libraries(0, 3)
    with CaptureQueriesContext(connection) as three:
        assert client.get(reverse(LIBRARIES)).status_code == 200
    add_libraries(3, 27)
    with django_assert_max_num_queries(len(three)) as thirty:
        response = client.get(reverse(LIBRARIES))
    assert response.context["cl"].result_count == 30
    assert len(thirty) == len(three)


# --- promote action ---------------------------------------------------------------


def test_promote_action_asks_for_the_library_then_copies(
    client, curator, user, library
):
    # given
    skill = _user_skill(user)
    before = _user_skill_state(skill)
    client.force_login(curator)
    ids = [str(skill.pk)]
    # when
    page = client.post(
        reverse(SKILLS),
        {"action": "promote_to_library", "_selected_action": ids, "index": "0"},
    )
    done = client.post(
        reverse(SKILLS),
        {
            "action": "promote_to_library",
            "_selected_action": ids,
            "confirm": "yes",
            "library": str(library.pk),
            "reason": "useful for everyone",
        },
    )
    # then
    assert page.status_code == 200
    assert "Copy into" in page.content.decode()
    assert Skill.objects.filter(library=library).count() == 1  # only after confirming
    assert done.status_code == 302
    copy = Skill.objects.get(library=library)
    assert copy.status == SkillStatus.DRAFT
    assert copy.provenance["promoted_from"]["skill_id"] == str(skill.pk)
    assert copy.versions.get().reason == "useful for everyone"
    assert _user_skill_state(skill) == before
    assert any("copied into" in m for m in _messages(done))


def test_promote_reports_skills_it_could_not_copy(client, curator, user, library):
    """A library skill in the selection is named in an error; the others are copied."""
    # given
    mine = _user_skill(user)
    shared = make_skill(library=library, title="Shared one")
    client.force_login(curator)
    # when
    response = client.post(
        reverse(SKILLS),
        {
            "action": "promote_to_library",
            "_selected_action": [str(mine.pk), str(shared.pk)],
            "confirm": "yes",
            "library": str(library.pk),
        },
    )
    # then
    texts = _messages(response)
    assert any("1 skill(s) copied" in m for m in texts)
    assert any(m.startswith(f"Not promoted: {shared.name}") for m in texts)
    assert Skill.objects.filter(library=library).count() == 2


def test_promote_without_any_library_says_to_create_one(client, curator, user):
    skill = _user_skill(user)
    client.force_login(curator)
    response = client.post(
        reverse(SKILLS),
        {
            "action": "promote_to_library",
            "_selected_action": [str(skill.pk)],
            "index": "0",
        },
    )
    assert response.status_code == 302
    assert any("no library yet" in m for m in _messages(response))


def test_staff_without_promote_permission_cannot_promote(client, editor, user, library):
    # given
    skill = _user_skill(user)
    client.force_login(editor)
    # when
    listing = client.get(reverse(SKILLS))
    forced = client.post(
        reverse(SKILLS),
        {
            "action": "promote_to_library",
            "_selected_action": [str(skill.pk)],
            "confirm": "yes",
            "library": str(library.pk),
        },
    )
    # then
    assert listing.status_code == 200
    assert 'value="promote_to_library"' not in listing.content.decode()
    assert forced.status_code == 302
    assert any("No action selected" in m for m in _messages(forced))
    assert not Skill.objects.filter(library=library).exists()


# --- zip import and export ----------------------------------------------------------


def test_export_then_import_round_trips_a_library(client, curator, library, user):
    """A library's live skills (drafts too, archived not) export as a zip that
    imports into another library as the same skills."""
    # given
    make_skill(
        library=library,
        title="Deploy checklist",
        description="Check migrations, feature flags and rollback before deploy.",
        triggers=["deploy to production"],
        files={"scripts/check.sh": b"#!/bin/sh\necho ok\n"},
    )
    make_skill(library=library, title="Postmortem", description="Blameless format.")
    make_skill(
        library=library,
        title="Draft idea",
        description="Not reviewed yet.",
        status=SkillStatus.DRAFT,
    )
    archived = make_skill(library=library, title="Old", description="Gone.")
    Skill.objects.filter(pk=archived.pk).update(status=SkillStatus.ARCHIVED)
    target = Library.objects.create(slug="copy", name="Copy")
    client.force_login(curator)
    # when
    export = client.get(reverse("admin:skills_library_export", args=[library.pk]))
    archive = b"".join(export.streaming_content)
    upload = SimpleUploadedFile("team.zip", archive, content_type="application/zip")
    response = client.post(
        reverse("admin:skills_library_import", args=[target.pk]),
        {"file": upload, "include_files": "on"},
    )
    # then
    assert export.status_code == 200
    assert export["Content-Disposition"].endswith('filename="library-team.zip"')
    names = sorted(zipfile.ZipFile(io.BytesIO(archive)).namelist())
    assert names == [
        "deploy-checklist/SKILL.md",
        "deploy-checklist/scripts/check.sh",
        "draft-idea/SKILL.md",
        "postmortem/SKILL.md",
    ]
    assert response.status_code == 200
    assert "3 created" in response.content.decode()
    original = {s.name: s for s in Skill.objects.filter(library=library)}
    copies = {s.name: s for s in Skill.objects.filter(library=target)}
    assert sorted(copies) == ["deploy-checklist", "draft-idea", "postmortem"]
    for name, copy in copies.items():
        assert (copy.title, copy.description, copy.triggers, copy.instructions) == (
            original[name].title,
            original[name].description,
            original[name].triggers,
            original[name].instructions,
        )
    assert file_contents(copies["deploy-checklist"]) == {
        "scripts/check.sh": b"#!/bin/sh\necho ok\n"
    }


def test_library_change_page_offers_import_and_export(client, curator, library):
    client.force_login(curator)
    page = client.get(reverse("admin:skills_library_change", args=[library.pk]))
    html = page.content.decode()
    assert reverse("admin:skills_library_import", args=[library.pk]) in html
    assert reverse("admin:skills_library_export", args=[library.pk]) in html
    form = client.get(reverse("admin:skills_library_import", args=[library.pk]))
    assert form.status_code == 200 and 'type="file"' in form.content.decode()


def test_a_bad_upload_is_explained_and_imports_nothing(client, curator, library):
    client.force_login(curator)
    url = reverse("admin:skills_library_import", args=[library.pk])
    not_zip = SimpleUploadedFile("x.bin", b"\x00\x01binary", "application/octet")
    missing = client.post(url, {})
    bad = client.post(url, {"file": not_zip})
    assert missing.status_code == 400
    assert "Choose a .zip archive" in missing.content.decode()
    assert bad.status_code == 400
    assert "Nothing imported" in bad.content.decode()
    assert not Skill.objects.exists()


def test_an_oversized_upload_is_refused(client, curator, library, settings):
    settings.AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES = 100
    client.force_login(curator)
    upload = SimpleUploadedFile("big.zip", b"PK\x03\x04" + b"x" * 70_000)
    response = client.post(
        reverse("admin:skills_library_import", args=[library.pk]), {"file": upload}
    )
    assert response.status_code == 413
    assert "Nothing imported" in response.content.decode()
    assert not Skill.objects.exists()


def test_import_needs_change_permission_and_csrf(client, viewer, curator, library):
    url = reverse("admin:skills_library_import", args=[library.pk])
    upload = SimpleUploadedFile("a.md", b"---\nname: a\ndescription: b\n---\nBody\n")
    client.force_login(viewer)
    assert client.post(url, {"file": upload}).status_code == 403
    strict = client.__class__(enforce_csrf_checks=True)
    strict.force_login(curator)
    upload.seek(0)
    assert strict.post(url, {"file": upload}).status_code == 403
    assert not Skill.objects.exists()


def test_exporting_an_empty_library_says_so(client, curator, library):
    client.force_login(curator)
    response = client.get(reverse("admin:skills_library_export", args=[library.pk]))
    assert response.status_code == 302
    assert any("no live skills" in m for m in _messages(response))
