"""The skill pages: library browser, skill page, editor with live check, access rules."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from proxy.pages import CONTENT_SECURITY_POLICY
from skills.models import Skill, SkillStatus, SkillVersion
from skills.services import skill_update
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def md_for(name: str, *, description: str, version: str = "", body: str = "") -> str:
    meta = f"metadata:\n  version: {version}\n" if version else ""
    return (
        f"---\nname: {name}\ndescription: {description}\n{meta}---\n\n"
        f"{body or 'Do the thing step by step.'}\n"
    )


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def bob_client(client, other_user):
    client.force_login(other_user)
    return client


def _html(response) -> str:
    return response.content.decode()


def _inline_scripts_or_styles(html: str) -> list[str]:
    scripts = [
        tag
        for tag in re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
        if "src=" not in tag
    ]
    return scripts + re.findall(r"<style\b|\sstyle=", html, flags=re.IGNORECASE)


# -- access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["skill-list", "skill-create", "skill-import", "skill-export-all"]
)
def test_anonymous_user_is_sent_to_login(client, name):
    """Every skill page is for signed-in users only."""
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("name", "with_id"),
    [
        ("skill-status", True),
        ("skill-delete", True),
        ("skill-rollback", True),
        ("skill-validate", False),
    ],
)
def test_get_on_post_only_routes_is_405(alice_client, user, name, with_id):
    skill = make_skill(owner=user)
    url = reverse(name, kwargs={"skill_id": skill.pk} if with_id else None)

    assert alice_client.get(url).status_code == 405


def test_another_users_skill_is_404_everywhere(client, user, other_user):
    """Bob can neither see nor change Alice's skill, and learns nothing about it."""
    # given
    skill = make_skill(owner=user, title="Alice secret recipe")
    client.force_login(other_user)
    kwargs = {"skill_id": skill.pk}
    # when / then
    for name in ("skill-detail", "skill-edit", "skill-history", "skill-export"):
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 404, name
        assert b"Alice secret recipe" not in response.content
    for name, data in (
        ("skill-edit", {"skill_md": "x", "version_number": "1"}),
        ("skill-status", {"status": "archived"}),
        ("skill-delete", {}),
        ("skill-rollback", {"to_number": "1"}),
    ):
        assert client.post(reverse(name, kwargs=kwargs), data).status_code == 404
    validate = client.post(
        reverse("skill-validate"), {"skill_md": "x", "skill_id": str(skill.pk)}
    )
    assert validate.status_code == 404
    skill.refresh_from_db()
    assert (skill.version_number, skill.status) == (1, SkillStatus.ACTIVE)
    assert "Alice secret recipe" not in _html(client.get(reverse("skill-list")))


def test_library_skill_is_read_only_for_non_staff(alice_client, library):
    """A library skill shows History and Export, but no Edit; writes get a 403 page."""
    # given
    skill = make_skill(library=library, title="Team style guide")
    kwargs = {"skill_id": skill.pk}
    # when
    page = _html(alice_client.get(reverse("skill-detail", kwargs=kwargs)))
    edit = alice_client.post(
        reverse("skill-edit", kwargs=kwargs),
        {
            "skill_md": md_for(skill.name, description="Hijacked."),
            "version_number": "1",
        },
    )
    archive = alice_client.post(
        reverse("skill-status", kwargs=kwargs), {"status": "archived"}
    )
    delete = alice_client.post(reverse("skill-delete", kwargs=kwargs))
    # then
    assert "Team style guide" in page
    assert reverse("skill-edit", kwargs=kwargs) not in page
    assert reverse("skill-delete", kwargs=kwargs) not in page
    assert reverse("skill-history", kwargs=kwargs) in page
    assert reverse("skill-export", kwargs=kwargs) in page
    assert "read-only" in page
    assert (edit.status_code, archive.status_code, delete.status_code) == (
        403,
        403,
        403,
    )
    assert "read-only" in _html(edit)
    skill.refresh_from_db()
    assert skill.version_number == 1 and skill.status == SkillStatus.ACTIVE
    assert skill.description != "Hijacked."


def test_staff_may_edit_a_library_skill(client, user, library):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    skill = make_skill(library=library)

    page = _html(client.get(reverse("skill-detail", kwargs={"skill_id": skill.pk})))

    assert reverse("skill-edit", kwargs={"skill_id": skill.pk}) in page


@pytest.mark.parametrize(
    "name",
    ["skill-list", "skill-detail", "skill-edit", "skill-history", "skill-import"],
)
def test_pages_send_csp_and_no_inline_script_or_style(alice_client, user, name):
    skill = make_skill(owner=user)
    kwargs = (
        {"skill_id": skill.pk}
        if name in ("skill-detail", "skill-edit", "skill-history")
        else None
    )

    response = alice_client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = _html(response)
    assert _inline_scripts_or_styles(html) == []
    assert "js/errors.js" in html
    assert f'href="{reverse("skill-list")}"' in html  # the Skills link in the nav


# -- list ------------------------------------------------------------------------------


def test_list_shows_own_and_library_skills_not_others(
    alice_client, user, other_user, library
):
    mine = make_skill(owner=user, title="Mine one", tags=["pdf"])
    shared = make_skill(library=library, title="Shared one")
    make_skill(owner=other_user, title="Bob private")

    html = _html(alice_client.get(reverse("skill-list")))

    assert mine.name in html and shared.name in html
    assert "Bob private" not in html
    assert "You" in html and "Library: Team" in html
    assert 'href="?tag=pdf"' in html


def test_list_filters_by_text_scope_tag_and_status(alice_client, user, library):
    """Each filter narrows the list; archived skills show only when asked for."""
    # given
    pdf = make_skill(owner=user, title="PDF tables", tags=["PDF"])
    mail = make_skill(owner=user, title="Mail merge", tags=["email"])
    shared = make_skill(library=library, title="Shared PDF")
    gone = make_skill(owner=user, title="Old PDF thing")
    skill_update(skill_id=gone.pk, status=SkillStatus.ARCHIVED)
    url = reverse("skill-list")

    def names(**params: str) -> set[str]:
        html = _html(alice_client.get(url, params))
        return {s.name for s in (pdf, mail, shared, gone) if f">{s.name}</a>" in html}

    # then
    assert names() == {pdf.name, mail.name, shared.name}
    assert names(q="pdf") == {pdf.name, shared.name}
    assert names(scope="user") == {pdf.name, mail.name}
    assert names(scope="library") == {shared.name}
    assert names(library="team") == {shared.name}
    assert names(tag="pdf") == {pdf.name}
    assert names(status="archived") == {gone.name}
    assert names(status="any", q="pdf", scope="user") == {pdf.name, gone.name}


def test_bad_filter_values_get_a_message_not_an_error(alice_client, user):
    skill = make_skill(owner=user)

    response = alice_client.get(
        reverse("skill-list"), {"scope": "everyone", "status": "weird"}
    )

    assert response.status_code == 400
    html = _html(response)
    assert "not understood" in html and "Select a valid choice" in html
    assert skill.name in html  # the defaults still apply


def test_list_paginates_at_50_and_page_links_keep_filters(alice_client, user):
    for n in range(52):
        make_skill(owner=user, title=f"Bulk skill {n}", tags=["bulk"])

    first = _html(alice_client.get(reverse("skill-list"), {"tag": "bulk"}))
    second = _html(
        alice_client.get(reverse("skill-list"), {"tag": "bulk", "page": "2"})
    )

    assert first.count('class="skill-card"') == 50
    assert second.count('class="skill-card"') == 2
    assert "?tag=bulk&amp;page=2" in first
    assert "Page 2 of 2" in second
    junk = alice_client.get(reverse("skill-list"), {"page": "zzz"})
    assert junk.status_code == 200


def test_empty_list_explains_where_skills_come_from(alice_client):
    html = _html(alice_client.get(reverse("skill-list")))

    assert "No skills yet" in html
    assert "Learned from chat" in html and "Imported" in html and "Created" in html
    for name in ("skill-create", "skill-import", "skill-export-all"):
        assert reverse(name) in html


# -- detail ----------------------------------------------------------------------------


def test_detail_shows_metadata_markdown_source_and_actions(alice_client, user):
    skill = make_skill(
        owner=user,
        title="Release <notes>",
        instructions="# Goal\n<script>alert(1)</script> **bold**",
        examples=[{"input": "v1.2 notes", "output": "## v1.2"}],
        files={"scripts/check.py": b"print('ok')\n"},
    )

    response = alice_client.get(reverse("skill-detail", kwargs={"skill_id": skill.pk}))

    assert response.status_code == 200
    html = _html(response)
    assert "Release &lt;notes&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "data-markdown>" in html and "&lt;script&gt;alert(1)" in html
    assert "Raw SKILL.md" in html and "scripts/check.py" in html
    assert "v1.2 notes" in html and "write release notes" in html
    for name in ("skill-edit", "skill-history", "skill-export", "skill-delete"):
        assert reverse(name, kwargs={"skill_id": skill.pk}) in html
    assert ">Archive</button>" in html
    assert "js/markdown.js" in html and "js/skill_view.js" in html


def test_unknown_skill_id_is_404(alice_client):
    missing = "00000000-0000-0000-0000-000000000000"

    assert (
        alice_client.get(
            reverse("skill-detail", kwargs={"skill_id": missing})
        ).status_code
        == 404
    )
    assert alice_client.get("/skills/not-a-uuid/").status_code == 404


# -- editor ------------------------------------------------------------------------------


def test_edit_saves_a_new_version_and_bumps_the_patch(alice_client, user):
    """Leaving the version as it was still makes a new release (as PUT .../md does)."""
    # given
    skill = make_skill(owner=user)
    url = reverse("skill-edit", kwargs={"skill_id": skill.pk})
    assert 'name="version_number" value="1"' in _html(alice_client.get(url))
    text = md_for(skill.name, description="A sharper description.", version="0.1.0")
    # when
    response = alice_client.post(
        url, {"skill_md": text, "version_number": "1"}, follow=True
    )
    # then
    skill.refresh_from_db()
    assert (skill.version_number, skill.version) == (2, "0.1.1")
    assert skill.description == "A sharper description."
    assert SkillVersion.objects.filter(skill=skill, number=2, origin="manual").exists()
    assert response.redirect_chain[-1][0] == reverse(
        "skill-detail", kwargs={"skill_id": skill.pk}
    )
    assert "Saved as version 0.1.1 (#2)" in _html(response)


def test_edit_without_changes_says_so(alice_client, user):
    skill = make_skill(owner=user)
    url = reverse("skill-edit", kwargs={"skill_id": skill.pk})
    current = SkillVersion.objects.get(skill=skill, number=1).skill_md

    response = alice_client.post(
        url, {"skill_md": current, "version_number": "1"}, follow=True
    )

    assert "No changes" in _html(response)
    skill.refresh_from_db()
    assert skill.version_number == 1


def test_edit_with_broken_frontmatter_is_400_with_inline_error(alice_client, user):
    """Bad YAML comes back with its line number, the user's text, and nothing saved."""
    # given
    skill = make_skill(owner=user)
    text = "---\nname: ok\ndescription: [unclosed\n---\n\nBody.\n"
    # when
    response = alice_client.post(
        reverse("skill-edit", kwargs={"skill_id": skill.pk}),
        {"skill_md": text, "version_number": "1"},
    )
    # then
    assert response.status_code == 400
    html = _html(response)
    assert 'aria-invalid="true"' in html
    assert re.search(r'data-line="\d+">Line \d+</button>', html)
    assert "not valid YAML" in html
    assert "description: [unclosed" in html  # the text is kept
    skill.refresh_from_db()
    assert skill.version_number == 1
    assert SkillVersion.objects.filter(skill=skill).count() == 1


def test_edit_from_a_stale_version_is_a_conflict_and_keeps_the_text(alice_client, user):
    # given: someone saved version #2 after the editor opened at #1
    skill = make_skill(owner=user)
    skill_update(skill_id=skill.pk, description="Changed elsewhere meanwhile.")
    text = md_for(skill.name, description="My edit from the old version.")
    # when
    response = alice_client.post(
        reverse("skill-edit", kwargs={"skill_id": skill.pk}),
        {"skill_md": text, "version_number": "1"},
    )
    # then
    assert response.status_code == 409
    html = _html(response)
    assert "changed since you opened it" in html
    assert "My edit from the old version." in html
    assert 'name="version_number" value="1"' in html
    assert f'href="{reverse("skill-edit", kwargs={"skill_id": skill.pk})}"' in html
    skill.refresh_from_db()
    assert skill.description == "Changed elsewhere meanwhile."
    assert skill.version_number == 2


def test_edit_with_an_invalid_name_says_which_name_would_work(alice_client, user):
    skill = make_skill(owner=user)

    response = alice_client.post(
        reverse("skill-edit", kwargs={"skill_id": skill.pk}),
        {"skill_md": md_for("My Skill", description="D."), "version_number": "1"},
    )

    assert response.status_code == 400
    assert "my-skill" in _html(response) and "Line 2" in _html(response)


def test_create_makes_a_skill_for_the_user(alice_client, user):
    page = _html(alice_client.get(reverse("skill-create")))
    assert "my-new-skill" in page and 'data-validate-url="/skills/validate/"' in page

    response = alice_client.post(
        reverse("skill-create"),
        {"skill_md": md_for("csv-cleanup", description="Clean CSV files.")},
        follow=True,
    )

    skill = Skill.objects.get(owner=user, name="csv-cleanup")
    assert skill.description == "Clean CSV files."
    assert skill.versions.get().origin == "manual"
    assert "Created “csv-cleanup”" in _html(response)


def test_create_with_no_description_is_400_and_stores_nothing(alice_client, user):
    response = alice_client.post(
        reverse("skill-create"), {"skill_md": "---\nname: lonely\n---\n\nBody.\n"}
    )

    assert response.status_code == 400
    assert "description" in _html(response)
    assert not Skill.objects.filter(owner=user).exists()


# -- live check ------------------------------------------------------------------------------


def test_validate_returns_fields_for_a_good_skill_md(alice_client):
    text = md_for("csv-cleanup", description="Clean CSV files.", version="1.2.0")

    response = alice_client.post(reverse("skill-validate"), {"skill_md": text})

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["errors"] == []
    assert body["fields"]["name"] == "csv-cleanup"
    assert body["fields"]["version"] == "1.2.0"
    assert "Do the thing" in body["body"]


def test_validate_reports_yaml_errors_with_their_line(alice_client):
    text = "---\nname: ok\ndescription: fine\nmetadata: [a\n---\n\nBody.\n"

    body = alice_client.post(reverse("skill-validate"), {"skill_md": text}).json()

    assert body["ok"] is False and body["fields"] == {}
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert isinstance(error["line"], int) and 4 <= error["line"] <= 5
    assert "YAML" in error["message"]


def test_validate_reports_an_unclosed_frontmatter_and_a_foreign_id(alice_client, user):
    skill = make_skill(owner=user)
    unclosed = alice_client.post(
        reverse("skill-validate"), {"skill_md": "---\nname: x\n\nBody"}
    ).json()
    foreign = alice_client.post(
        reverse("skill-validate"),
        {
            "skill_id": str(skill.pk),
            "skill_md": "---\nname: x\ndescription: d\nmetadata:\n"
            "  id: 11111111-1111-1111-1111-111111111111\n---\n\nBody\n",
        },
    ).json()

    assert unclosed["errors"] == [
        {"line": 1, "message": unclosed["errors"][0]["message"]}
    ]
    assert "not closed" in unclosed["errors"][0]["message"]
    assert foreign["ok"] is False
    assert foreign["errors"][0]["line"] == 5
    assert "names skill id" in foreign["errors"][0]["message"]


def test_validate_needs_the_csrf_token(client, user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)

    response = strict.post(reverse("skill-validate"), {"skill_md": "x"})

    assert response.status_code == 403


def test_oversized_skill_md_is_refused_with_the_limit(alice_client, user, settings):
    settings.AUTOSKILL_MAX_FILE_BYTES = 200
    skill = make_skill(owner=user)
    text = md_for(skill.name, description="Long.", body="x" * 500)

    response = alice_client.post(
        reverse("skill-edit", kwargs={"skill_id": skill.pk}),
        {"skill_md": text, "version_number": "1"},
    )

    assert response.status_code == 400
    assert "the limit is 200" in _html(response)
    skill.refresh_from_db()
    assert skill.version_number == 1


def test_create_clashing_with_a_live_skill_is_a_message(alice_client, user):
    """Two live skills of one user cannot share a description; the page says which."""
    existing = make_skill(owner=user, description="Clean CSV files.")

    response = alice_client.post(
        reverse("skill-create"),
        {"skill_md": md_for("csv-again", description="Clean CSV files.")},
    )

    assert response.status_code == 409
    assert existing.name in _html(response)
    assert Skill.objects.filter(owner=user).count() == 1
