"""Version history in the skill admin: the diff of any two versions and rollback."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from skills.models import Skill, SkillVersion
from skills.selectors import current_skill_md
from skills.services import skill_update
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def diff_url(skill: Skill, query: str = "") -> str:
    return f"/admin/skills/skill/{skill.pk}/diff/{query}"


def rollback_url(skill: Skill, number: int) -> str:
    return f"/admin/skills/skill/{skill.pk}/rollback/{number}/"


@pytest.fixture
def history(user) -> Skill:
    """Three versions: created, instructions with HTML, then a new title."""
    skill = make_skill(owner=user, title="Release notes")
    skill_update(
        skill_id=skill.pk,
        instructions="Use <script>alert(1)</script> never.",
        bump=True,
    )
    return skill_update(skill_id=skill.pk, title="Release notes v3", bump=True)


def test_diff_defaults_to_the_latest_change_coloured_and_escaped(admin_client, history):
    # when
    response = admin_client.get(diff_url(history))
    # then the page compares #2 with #3
    assert response.status_code == 200
    html = response.text
    assert '<option value="2" selected>' in html
    assert '<option value="3" selected>' in html
    assert '<span class="diff-line diff-add">+' in html
    assert '<span class="diff-line diff-del">-' in html
    assert "Release notes v3" in html
    assert 'id="js-error"' in html


def test_diff_between_any_two_versions_escapes_the_text(admin_client, history):
    response = admin_client.get(diff_url(history, "?a=1&b=2"))
    html = response.text
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    added = [line for line in html.split("diff-add") if "alert(1)" in line]
    assert added, "the new instructions are an added line"


def test_diff_of_a_version_with_itself_says_they_are_equal(admin_client, history):
    response = admin_client.get(diff_url(history, "?a=2&b=2"))
    assert response.status_code == 200
    assert "have the same SKILL.md text" in response.text


@pytest.mark.parametrize(
    "query", ["?a=9&b=1", "?a=x&b=2", "?a=1&b=-3", "?b=99999999999"]
)
def test_bad_version_numbers_get_a_message_not_an_error(admin_client, history, query):
    response = admin_client.get(diff_url(history, query))
    assert response.status_code == 400
    assert "does not exist; this skill has versions #1 to #3" in response.text
    # the default comparison is still shown below the message
    assert "diff-line" in response.text


def test_diff_of_an_unknown_skill_is_404(admin_client):
    for skill_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = admin_client.get(f"/admin/skills/skill/{skill_id}/diff/")
        assert response.status_code == 404, skill_id


def test_rollback_asks_first_and_shows_what_changes(admin_client, history):
    response = admin_client.get(rollback_url(history, 1))
    assert response.status_code == 200
    html = response.text
    assert "Roll back to #1" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "diff-del" in html
    history.refresh_from_db()
    assert history.version_number == 3


def test_rollback_writes_a_new_version_with_the_old_content(
    admin_client, admin_user, history
):
    # given
    first = SkillVersion.objects.get(skill=history, number=1)
    # when
    response = admin_client.post(
        rollback_url(history, 1), {"reason": "v2 broke it"}, follow=True
    )
    # then
    assert "Rolled back" in response.text and "(#4)" in response.text
    history.refresh_from_db()
    assert history.version_number == 4
    assert (history.title, history.instructions) == (first.title, first.instructions)
    version = history.versions.get(number=4)
    assert (version.origin, version.author, version.reason) == (
        "rollback",
        admin_user,
        "v2 broke it",
    )
    assert SkillVersion.objects.filter(skill=history).count() == 4


def test_rolling_back_to_the_same_content_writes_nothing(admin_client, user):
    skill = make_skill(owner=user)
    skill_update(skill_id=skill.pk, instructions="x", bump=True)
    response = admin_client.post(rollback_url(skill, 2), {}, follow=True)
    assert "nothing changed" in response.text
    skill.refresh_from_db()
    assert skill.version_number == 2


def test_rollback_to_a_missing_version_says_so(admin_client, history):
    response = admin_client.post(rollback_url(history, 42), {}, follow=True)
    assert response.status_code == 200
    assert "has no version #42" in response.text
    history.refresh_from_db()
    assert history.version_number == 3


def test_rollback_needs_the_change_permission(client, django_user_model, history):
    # given staff who may only view skills
    staff = django_user_model.objects.create_user(
        username="viewer", password="pw", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_skill"))
    client.force_login(staff)
    # then the diff is visible, the rollback is not
    assert client.get(diff_url(history)).status_code == 200
    assert client.get(rollback_url(history, 1)).status_code == 403
    assert client.post(rollback_url(history, 1), {}).status_code == 403
    history.refresh_from_db()
    assert history.version_number == 3


def test_rollback_post_needs_the_csrf_token(history, admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(rollback_url(history, 1), {}).status_code == 403
    history.refresh_from_db()
    assert history.version_number == 3


def test_history_table_lists_each_version_with_author_and_reason(
    admin_client, admin_user, user
):
    skill = make_skill(owner=user)
    text = current_skill_md(skill).replace("No emojis.", "No emojis, ever.")
    admin_client.post(
        f"/admin/skills/skill/{skill.pk}/change/",
        {
            "skill_md": text,
            "new_status": "active",
            "reason": "tightened the rule",
            "version_number": 1,
        },
    )
    response = admin_client.get(f"/admin/skills/skill/{skill.pk}/change/")
    table = response.text.split('id="skill-versions"', 1)[1].split("</table>", 1)[0]
    assert "tightened the rule" in table
    assert admin_user.username in table
    assert "Manual edit" in table
    assert table.count("<tr") == 3  # header + two versions


def test_a_long_history_shows_the_newest_rows_and_links_to_all(
    admin_client, user, monkeypatch
):
    # given five versions and a table of three rows
    monkeypatch.setattr("skills.admin_versions.HISTORY_ROWS", 3)
    skill = make_skill(owner=user)
    for n in range(4):
        skill_update(skill_id=skill.pk, instructions=f"Step {n}", bump=True)
    # when
    response = admin_client.get(f"/admin/skills/skill/{skill.pk}/change/")
    # then
    table = response.text.split('id="skill-versions"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 4  # header + the three newest
    assert "Showing the newest 3 of 5 versions." in response.text
    link = f"/admin/skills/skillversion/?skill__id__exact={skill.pk}"
    assert link in response.text
    other = make_skill(owner=user, title="Unrelated")
    listing = admin_client.get(link)
    assert listing.status_code == 200
    assert skill.name in listing.text and other.name not in listing.text
