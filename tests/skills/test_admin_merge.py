"""Admin merge: the changelist action with its confirmation page, and near-duplicates."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from autoskill_site.providers.embeddings import HashingEmbedder
from retrieval.embeddings import embeddings_refresh
from skills import admin_merge
from skills.models import Skill, SkillStatus, SkillVersion
from tests.factories import make_skill, make_staff

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:skills_skill_changelist"
NEAR = "admin:skills_skill_near_duplicates"
PAIR = "admin:skills_skill_merge_pair"


@pytest.fixture
def curator(django_user_model):
    return make_staff(
        django_user_model, "curator", "view_skill", "change_skill", "merge_skill"
    )


@pytest.fixture
def editor(django_user_model):
    """Staff who may edit skills but not merge them."""
    return make_staff(django_user_model, "editor", "view_skill", "change_skill")


def _state() -> list[tuple]:
    rows = Skill.objects.order_by("pk").values_list(
        "pk", "status", "version", "triggers", "provenance"
    )
    return [*rows, SkillVersion.objects.count()]


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _release_pair(owner):
    a = make_skill(
        owner=owner,
        title="Release notes",
        description="Write release notes: summary, breaking changes, migration.",
        triggers=["write release notes"],
        tags=["release"],
    )
    b = make_skill(
        owner=owner,
        title="Release notes writer",
        description="Write the release notes with summary and migration steps.",
        triggers=["draft the changelog", "write release notes"],
        tags=["writing"],
        instructions="B's own instructions.",
    )
    return a, b


def _action(client, name: str, ids, **extra):
    data = {"action": name, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(reverse(CHANGELIST), data)


def test_merge_action_shows_a_confirmation_page_first(client, curator, user):
    """Selecting skills and choosing the action asks before changing anything."""
    # given
    a, b = _release_pair(user)
    client.force_login(curator)
    before = _state()
    # when
    response = _action(client, "merge_selected", [a.pk, b.pk], index="0")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "Which skill survives?" in page
    assert a.name in page and b.name in page
    assert 'name="survivor"' in page and 'name="csrfmiddlewaretoken"' in page
    assert _state() == before


def test_confirming_merges_through_the_service(client, curator, user):
    """The chosen survivor gets the union and B's instructions; B is archived."""
    # given
    a, b = _release_pair(user)
    client.force_login(curator)
    # when
    response = _action(
        client,
        "merge_selected",
        [a.pk, b.pk],
        confirm="yes",
        survivor=str(a.pk),
        instructions_from=str(b.pk),
        reason="same skill twice",
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:skills_skill_change", args=[a.pk])
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.triggers == ["write release notes", "draft the changelog"]
    assert a.tags == ["release", "writing"]
    assert a.instructions == "B's own instructions."
    assert a.version == "0.1.1"
    last = a.versions.first()
    assert last.author == curator and "same skill twice" in last.reason
    assert b.status == SkillStatus.ARCHIVED
    assert b.provenance["merged_into"] == str(a.pk)
    assert any("Merged 1 skill(s)" in m for m in _messages(response))


def test_mixed_owners_are_reported_and_nothing_changes(
    client, curator, user, other_user
):
    # given
    mine = make_skill(owner=user)
    theirs = make_skill(owner=other_user)
    client.force_login(curator)
    before = _state()
    # when
    response = _action(client, "merge_selected", [mine.pk, theirs.pk], index="0")
    # then
    assert response.status_code == 302  # back to the list, with the reason
    assert any("same owner" in m for m in _messages(response))
    assert _state() == before


def test_too_few_or_too_many_selected_are_refused_with_a_message(
    client, curator, user, monkeypatch
):
    # given
    monkeypatch.setattr(admin_merge, "MAX_MERGE", 2)
    a, b, c = (make_skill(owner=user) for _ in range(3))
    client.force_login(curator)
    before = _state()
    # when
    one = _action(client, "merge_selected", [a.pk], index="0")
    three = _action(client, "merge_selected", [a.pk, b.pk, c.pk], index="0")
    # then
    assert any("(1 selected)" in m for m in _messages(one))
    assert any("(3 selected)" in m for m in _messages(three))
    assert _state() == before


def test_a_survivor_outside_the_selection_redisplays_the_page(client, curator, user):
    # given
    a, b = _release_pair(user)
    stranger = make_skill(owner=user)
    client.force_login(curator)
    before = _state()
    # when
    response = _action(
        client,
        "merge_selected",
        [a.pk, b.pk],
        confirm="yes",
        survivor=str(stranger.pk),
    )
    # then
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert _state() == before


def test_staff_without_merge_permission_cannot_merge(client, editor, user):
    """The action is not offered, and posting it anyway changes nothing."""
    # given
    a, b = _release_pair(user)
    client.force_login(editor)
    before = _state()
    # when
    listing = client.get(reverse(CHANGELIST))
    forced = _action(
        client, "merge_selected", [a.pk, b.pk], confirm="yes", survivor=str(a.pk)
    )
    pair = client.post(reverse(PAIR), {"keep": str(a.pk), "other": str(b.pk)})
    # then
    assert listing.status_code == 200
    assert 'value="merge_selected"' not in listing.content.decode()
    assert forced.status_code == 302
    assert any("No action selected" in m for m in _messages(forced))
    assert pair.status_code == 403
    assert _state() == before


def test_non_staff_cannot_reach_the_merge_views(client, user):
    a, b = _release_pair(user)
    client.force_login(user)
    for response in (
        client.get(reverse(NEAR)),
        client.post(reverse(PAIR), {"keep": str(a.pk), "other": str(b.pk)}),
    ):
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
    assert Skill.objects.get(pk=b.pk).status == SkillStatus.ACTIVE


def test_near_duplicates_lists_the_similar_pair_only(client, curator, user):
    # given
    a, b = _release_pair(user)
    sql = make_skill(
        owner=user,
        title="Postgres index tuning",
        description="Choose btree or gin indexes from slow query plans.",
        triggers=["tune postgres indexes"],
        tags=["database"],
    )
    embeddings_refresh(embedder=HashingEmbedder(256))
    client.force_login(curator)
    # when
    response = client.get(reverse(NEAR), {"threshold": "0.5"})
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 pair at similarity 0.5" in page
    assert a.title in page and b.title in page
    assert sql.title not in page
    assert "Merge B into A" in page
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert f'href="{reverse(NEAR)}"' in listing  # reachable from the skill list


def test_near_duplicates_hides_merge_buttons_without_permission(client, user, editor):
    _release_pair(user)
    client.force_login(editor)
    response = client.get(reverse(NEAR), {"threshold": "0.3"})
    page = response.content.decode()
    assert response.status_code == 200 and "1 pair" in page
    assert "Merge B into A" not in page and "You can look but not merge" in page


def test_a_bad_threshold_is_explained_not_a_500(client, curator):
    client.force_login(curator)
    response = client.get(reverse(NEAR), {"threshold": "7"})
    assert response.status_code == 400
    assert "less than or equal to 1" in response.content.decode()


def test_one_click_merge_merges_b_into_a_and_returns_to_the_list(client, curator, user):
    # given
    a, b = _release_pair(user)
    client.force_login(curator)
    # when
    response = client.post(
        reverse(PAIR),
        {"keep": str(a.pk), "other": str(b.pk), "threshold": "0.7", "limit": "50"},
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == reverse(NEAR) + "?threshold=0.7&limit=50"
    b.refresh_from_db()
    assert b.status == SkillStatus.ARCHIVED
    assert b.provenance["merged_into"] == str(a.pk)
    assert "draft the changelog" in Skill.objects.get(pk=a.pk).triggers


def test_one_click_merge_of_a_stale_pair_reports_the_error(client, curator, user):
    """A pair merged already (B archived) is refused with a message, not a 500."""
    a, b = _release_pair(user)
    client.force_login(curator)
    client.post(reverse(PAIR), {"keep": str(a.pk), "other": str(b.pk)})
    before = _state()
    again = client.post(reverse(PAIR), {"keep": str(a.pk), "other": str(b.pk)})
    assert again.status_code == 302
    assert any("Archived skills cannot be merged" in m for m in _messages(again))
    assert _state() == before
    garbage = client.post(reverse(PAIR), {"keep": "x", "other": "y"})
    assert garbage.status_code == 302
    assert any("not understood" in m for m in _messages(garbage))
