"""The skill admin: changelist columns and filters, the SKILL.md change form, archiving,
and who may reach it. Every write must arrive through the services (a version row
with the curator as author)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission

from skills.models import Skill, SkillStatus, SkillUsage, SkillVersion
from skills.selectors import current_skill_md
from skills.services import skill_set_status, skill_update
from tests.factories import make_skill

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/skills/skill/"
# Session, user, counts, rows, filter choices: fixed, whatever the number of rows.
CHANGELIST_QUERIES = 12


def change_url(skill: Skill) -> str:
    return f"/admin/skills/skill/{skill.pk}/change/"


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="skills", codename__in=codenames
        )
    )


@pytest.fixture
def curator(admin_user):
    return admin_user


@pytest.fixture
def staff(django_user_model):
    """Staff with no permissions yet; tests grant what they need."""
    return django_user_model.objects.create_user(
        username="stella", password="pw-stella-123", is_staff=True
    )


def edit_post(skill: Skill, text: str, **extra) -> dict:
    return {
        "skill_md": text,
        "new_status": extra.pop("new_status", skill.status),
        "reason": extra.pop("reason", ""),
        "version_number": extra.pop("version_number", skill.version_number),
        **extra,
    }


def with_usage(skill: Skill, user, *, retrieved: int, used: int, judged: int = 0):
    return SkillUsage.objects.create(
        user=user,
        skill=skill,
        retrieved=retrieved,
        relevant=min(retrieved, used + 1),
        used=used,
        judged=judged,
    )


def titles_in(response) -> set[str]:
    return set(re.findall(r'class="field-title"><a [^>]*>([^<]+)</a>', response.text))


# -- changelist -------------------------------------------------------------------


def test_changelist_shows_owner_library_status_version_usage_and_origin(
    admin_client, user, library
):
    # given
    skill = make_skill(owner=user, title="Release notes")
    skill_update(skill_id=skill.pk, instructions="Changed.", bump=True)
    with_usage(skill, user, retrieved=7, used=2)
    make_skill(library=library, title="Shared style guide")
    # when
    response = admin_client.get(CHANGELIST)
    # then
    assert response.status_code == 200
    row = response.text.split("Release notes", 1)[1].split("</tr>", 1)[0]
    assert "alice" in row and "active" in row.lower()
    assert "0.1.1 (#2)" in row
    assert '<td class="field-retrieved_total">7</td>' in row
    assert '<td class="field-used_total">2</td>' in row
    assert '<td class="field-current_origin_label">Manual edit</td>' in row
    assert "Shared style guide" in response.text


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, user, other_user, library, django_assert_max_num_queries
):
    """3 rows and 30 rows (with usage and several versions each) cost the same queries."""

    def render() -> int:
        with django_assert_max_num_queries(CHANGELIST_QUERIES) as queries:
            assert admin_client.get(CHANGELIST).status_code == 200
        return len(queries)

    def add_skills(count: int) -> None:
        for n in range(count):
            owner = user if n % 2 else other_user
            skill = make_skill(owner=owner) if n % 3 else make_skill(library=library)
            skill_update(skill_id=skill.pk, instructions=f"v2 {n}", bump=True)
            with_usage(skill, user, retrieved=n + 1, used=n % 2)

    add_skills(3)
    few = render()
    add_skills(27)
    many = render()
    assert Skill.objects.count() == 30
    assert few == many


def test_filters_and_counts_work_together(admin_client, user, library):
    """The optional per-choice counts run every filter as a subquery; none may break."""
    make_skill(owner=user, title="Alpha", tags=["writing"])
    make_skill(library=library, title="Beta", tags=["sql"])
    query = "?_facets=1&tag=writing&origin=manual&stale=no&owner=alice&status=active"
    response = admin_client.get(CHANGELIST + query)
    assert response.status_code == 200
    assert titles_in(response) == {"Alpha"}


def test_filters_by_status_owner_library_tag_and_origin(
    admin_client, user, other_user, library
):
    # given
    mine = make_skill(owner=user, title="Alpha", tags=["Writing"])
    theirs = make_skill(owner=other_user, title="Beta", tags=["sql"])
    shared = make_skill(library=library, title="Gamma", tags=["writing"])
    draft = make_skill(
        owner=user, title="Delta", status=SkillStatus.DRAFT, tags=["misc"]
    )
    skill_update(skill_id=theirs.pk, title="Beta two", bump=True)
    skill_set_status(skill_id=mine.pk, status=SkillStatus.ARCHIVED)

    def shown(query: str) -> set[str]:
        response = admin_client.get(CHANGELIST + query)
        assert response.status_code == 200, query
        return titles_in(response)

    # then
    assert shown("?status=draft") == {draft.title}
    assert shown("?owner=ALICE") == {mine.title, draft.title}
    assert shown(f"?library__id__exact={library.pk}") == {shared.title}
    assert shown("?tag=writing") == {mine.title, shared.title}
    assert shown("?origin=manual") == {"Beta two", shared.title, draft.title}
    assert shown("?origin=status") == {mine.title}
    assert shown("?owner=nobody") == set()


def test_the_owner_filter_is_a_text_box_that_keeps_the_other_filters(
    admin_client, user
):
    make_skill(owner=user)
    response = admin_client.get(CHANGELIST + "?status=active&q=release")
    html = response.text
    assert '<input type="search" id="filter-owner" name="owner"' in html
    assert '<input type="hidden" name="status" value="active">' in html
    assert '<input type="hidden" name="q" value="release">' in html


def test_stale_filter_follows_the_pruning_rule(admin_client, user, settings):
    # given the pruning thresholds and three skills
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 5
    settings.AUTOSKILL_USAGE_PRUNE_MAX_USED = 0
    stale = make_skill(owner=user, title="Never used")
    used = make_skill(owner=user, title="Often used")
    young = make_skill(owner=user, title="Rarely judged")
    with_usage(stale, user, retrieved=9, used=0, judged=6)
    with_usage(used, user, retrieved=9, used=4, judged=6)
    with_usage(young, user, retrieved=9, used=0, judged=2)
    # then
    yes = titles_in(admin_client.get(CHANGELIST + "?stale=yes"))
    no = titles_in(admin_client.get(CHANGELIST + "?stale=no"))
    assert yes == {"Never used"}
    assert no == {"Often used", "Rarely judged"}
    # and with pruning switched off nothing is stale
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 0
    assert titles_in(admin_client.get(CHANGELIST + "?stale=yes")) == set()


def test_search_covers_name_title_description_and_triggers(admin_client, user):
    make_skill(owner=user, title="Alpha", triggers=["deploy the canary"])
    make_skill(owner=user, title="Beta", description="Formats SQL queries.")
    assert titles_in(admin_client.get(CHANGELIST + "?q=canary")) == {"Alpha"}
    assert titles_in(admin_client.get(CHANGELIST + "?q=formats+sql")) == {"Beta"}


def test_unknown_filter_values_are_ignored_not_errors(admin_client, user):
    make_skill(owner=user, title="Alpha")
    for query in ("?origin=bogus", "?stale=maybe", "?tag=", "?owner=%20"):
        response = admin_client.get(CHANGELIST + query)
        assert response.status_code == 200, query
        assert titles_in(response) == {"Alpha"}, query


# -- change form ------------------------------------------------------------------


def test_change_form_shows_the_rendered_preview_source_and_history(admin_client, user):
    # given a skill whose text contains HTML
    skill = make_skill(owner=user, instructions="Use <b>bold</b> and **strong**.")
    skill_update(skill_id=skill.pk, instructions="Second", bump=True)
    # when
    response = admin_client.get(change_url(skill))
    # then the preview holds the escaped Markdown for markdown.js to render
    assert response.status_code == 200
    html = response.text
    assert 'id="skill-md-preview" class="skill-md-preview" data-markdown>' in html
    assert "js/markdown.js" in html and "js/admin_skills.js" in html
    assert 'id="js-error"' in html
    assert "<b>bold</b>" not in html
    # and the text box holds the stored SKILL.md
    assert 'name="skill_md"' in html
    assert 'name="version_number" value="2"' in html
    # and the history lists both versions with diff and rollback links
    assert re.search(r"Version history \(2\)", html)
    assert f"/admin/skills/skill/{skill.pk}/rollback/1/" in html
    assert f"/admin/skills/skill/{skill.pk}/diff/?a=1&amp;b=2" in html


def test_saving_an_edit_writes_a_new_version_authored_by_the_curator(
    admin_client, curator, user
):
    # given
    skill = make_skill(owner=user)
    text = current_skill_md(skill).replace(
        "Summary, breaking changes, migration.", "Summary first, then migration."
    )
    # when
    response = admin_client.post(
        change_url(skill), edit_post(skill, text, reason="clearer order")
    )
    # then
    assert response.status_code == 302
    skill.refresh_from_db()
    assert (skill.version_number, skill.version) == (2, "0.1.1")
    assert "Summary first" in skill.instructions
    version = skill.versions.get(number=2)
    assert (version.origin, version.author, version.reason) == (
        "manual",
        curator,
        "clearer order",
    )
    messages = [m.message for m in response.wsgi_request._messages]
    assert any("Saved as version 0.1.1 (#2)" in m for m in messages)


def test_an_explicit_version_in_the_text_is_kept(admin_client, user):
    skill = make_skill(owner=user)
    text = current_skill_md(skill).replace('version: "0.1.0"', 'version: "2.0.0"')
    admin_client.post(change_url(skill), edit_post(skill, text))
    skill.refresh_from_db()
    assert (skill.version, skill.version_number) == ("2.0.0", 2)


def test_saving_unchanged_text_writes_nothing(admin_client, user):
    skill = make_skill(owner=user)
    response = admin_client.post(
        change_url(skill), edit_post(skill, current_skill_md(skill)), follow=True
    )
    assert "No changes" in response.text
    assert skill.versions.count() == 1


def test_a_status_change_alone_is_a_version_without_a_bump(admin_client, user):
    skill = make_skill(owner=user)
    admin_client.post(
        change_url(skill),
        edit_post(skill, current_skill_md(skill), new_status=SkillStatus.DRAFT),
    )
    skill.refresh_from_db()
    assert (skill.status, skill.version, skill.version_number) == ("draft", "0.1.0", 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nname: x\ndescription: [oops\n---\nBody\n", "not valid YAML"),
        ("Just a body, no frontmatter.", "needs YAML frontmatter"),
        ("---\nname: Bad Name!\ndescription: Does x.\n---\nBody\n", "Did you mean"),
        (
            f"---\nname: long\ndescription: d\nmetadata:\n  title: {'t' * 301}\n---\nB\n",
            "the limit is 300",
        ),
    ],
)
def test_an_invalid_skill_md_shows_the_error_and_stores_nothing(
    admin_client, user, text, message
):
    # given
    skill = make_skill(owner=user)
    before = (skill.version_number, current_skill_md(skill))
    # when
    response = admin_client.post(change_url(skill), edit_post(skill, text))
    # then the form comes back with the error and the curator's text
    assert response.status_code == 200
    assert "Please correct the error" in response.text
    assert message in response.text
    assert "errorlist" in response.text
    skill.refresh_from_db()
    assert (skill.version_number, current_skill_md(skill)) == before
    assert SkillVersion.objects.filter(skill=skill).count() == 1


def test_an_edit_from_an_old_version_is_refused_not_overwriting(admin_client, user):
    # given someone else saved version 2 after the form was opened at version 1
    skill = make_skill(owner=user)
    opened = edit_post(skill, current_skill_md(skill).replace("No emojis.", "Mine."))
    skill_update(skill_id=skill.pk, instructions="Theirs.", bump=True)
    # when
    response = admin_client.post(change_url(skill), opened)
    # then
    assert response.status_code == 200
    assert "changed since version #1" in response.text
    skill.refresh_from_db()
    assert (skill.version_number, skill.instructions) == (2, "Theirs.")


def test_an_identity_conflict_is_a_form_error(admin_client, user):
    # given two skills; the edit gives the second the first's description
    first = make_skill(owner=user)
    second = make_skill(owner=user)
    text = current_skill_md(second).replace(second.description, first.description)
    # when
    response = admin_client.post(change_url(second), edit_post(second, text))
    # then
    assert response.status_code == 200
    assert "same description already exists" in response.text
    assert second.versions.count() == 1


def test_adding_a_skill_goes_through_skill_create(admin_client, curator, user):
    text = (
        "---\nname: sql-style\ndescription: Formats SQL.\n---\n\nUppercase keywords.\n"
    )
    response = admin_client.post(
        "/admin/skills/skill/add/",
        {
            "owner_username": "alice",
            "target_library": "",
            "new_status": "draft",
            "skill_md": text,
            "reason": "seeded",
        },
    )
    assert response.status_code == 302
    skill = Skill.objects.get(name="sql-style")
    assert (skill.owner, skill.status, skill.version_number) == (user, "draft", 1)
    version = skill.versions.get()
    assert (version.origin, version.author, version.reason) == (
        "manual",
        curator,
        "seeded",
    )


def test_the_add_form_reports_a_bad_home(admin_client, user, library):
    text = "---\nname: sql-style\ndescription: Formats SQL.\n---\n\nBody.\n"
    cases = [
        ("", "", "exactly one home"),
        ("nobody", "", "There is no user named"),
        ("alice", str(library.pk), "exactly one home"),
    ]
    for owner, lib, message in cases:
        response = admin_client.post(
            "/admin/skills/skill/add/",
            {
                "owner_username": owner,
                "target_library": lib,
                "new_status": "active",
                "skill_md": text,
            },
        )
        assert response.status_code == 200, owner
        assert message in response.text, owner
    assert not Skill.objects.exists()


def test_the_add_form_creates_a_library_skill(admin_client, library):
    text = "---\nname: tone\ndescription: Friendly tone.\n---\n\nBe kind.\n"
    admin_client.post(
        "/admin/skills/skill/add/",
        {"owner_username": "", "target_library": library.pk, "new_status": "active",
         "skill_md": text},
    )  # fmt: skip
    skill = Skill.objects.get(name="tone")
    assert (skill.library, skill.owner) == (library, None)


# -- archive action ---------------------------------------------------------------


def test_archive_action_archives_through_the_service(admin_client, curator, user):
    # given
    a, b = make_skill(owner=user), make_skill(owner=user)
    keep = make_skill(owner=user)
    # when
    response = admin_client.post(
        CHANGELIST,
        {"action": "archive_selected", "_selected_action": [a.pk, b.pk]},
        follow=True,
    )
    # then
    assert "Archived 2 skill(s)" in response.text
    for skill in (a, b):
        skill.refresh_from_db()
        assert skill.status == SkillStatus.ARCHIVED
        version = skill.versions.get(number=2)
        assert (version.origin, version.author) == ("status", curator)
    keep.refresh_from_db()
    assert keep.status == SkillStatus.ACTIVE


def test_skills_cannot_be_deleted_from_the_admin(admin_client, user):
    skill = make_skill(owner=user)
    assert admin_client.get(f"/admin/skills/skill/{skill.pk}/delete/").status_code in (
        302,
        403,
    )
    assert Skill.objects.filter(pk=skill.pk).exists()


# -- who may do what --------------------------------------------------------------


def test_non_staff_users_are_sent_to_the_admin_login(client, user):
    skill = make_skill(owner=user)
    client.force_login(user)
    for url in (
        CHANGELIST,
        change_url(skill),
        f"/admin/skills/skill/{skill.pk}/diff/",
        "/admin/skills/skilldraft/",
        "/admin/skills/skillusage/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_view_only_staff_see_the_skill_but_cannot_change_it(client, staff, user):
    # given staff allowed to view skills only
    grant(staff, "view_skill")
    skill = make_skill(owner=user)
    client.force_login(staff)
    # then the change page renders read-only, without the editor or rollback links
    response = client.get(change_url(skill))
    assert response.status_code == 200
    assert 'name="skill_md"' not in response.text
    assert "skill-md-text" in response.text
    assert "/rollback/" not in response.text
    # and a POST is refused, archiving too
    text = current_skill_md(skill).replace("No emojis.", "Hacked.")
    assert client.post(change_url(skill), edit_post(skill, text)).status_code == 403
    client.post(
        CHANGELIST, {"action": "archive_selected", "_selected_action": [skill.pk]}
    )
    skill.refresh_from_db()
    assert (skill.version_number, skill.status) == (1, SkillStatus.ACTIVE)


def test_staff_without_skill_permissions_get_403(client, staff, user):
    skill = make_skill(owner=user)
    client.force_login(staff)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change_url(skill)).status_code == 403


def test_merge_and_promote_are_separate_permissions(staff):
    """Editing skills does not imply merging or promoting them."""
    codenames = set(
        Permission.objects.filter(content_type__app_label="skills").values_list(
            "codename", flat=True
        )
    )
    assert {"merge_skill", "promote_skill"} <= codenames
    grant(staff, "view_skill", "change_skill")
    staff = type(staff).objects.get(pk=staff.pk)  # a fresh permission cache
    assert staff.has_perm("skills.change_skill")
    assert not staff.has_perm("skills.merge_skill")
    assert not staff.has_perm("skills.promote_skill")
