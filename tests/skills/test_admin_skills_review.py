"""The review queue (draft skills, approved or rejected in bulk), the usage counters
admin with its archive action, and promotions that start as drafts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from skills.models import Skill, SkillDraft, SkillStatus, SkillUsage
from skills.services import skill_promote
from tests.factories import make_skill

pytestmark = pytest.mark.django_db

QUEUE = "/admin/skills/skilldraft/"
USAGE = "/admin/skills/skillusage/"
QUERY_BOUND = 12


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def queries_for(django_assert_max_num_queries):
    """Render a page under the fixed query bound; the number of queries it took."""

    def render(client, url: str) -> int:
        with django_assert_max_num_queries(QUERY_BOUND) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    return render


@pytest.fixture
def drafts(user, library):
    return [
        make_skill(owner=user, title="Draft one", status=SkillStatus.DRAFT),
        make_skill(owner=user, title="Draft two", status=SkillStatus.DRAFT),
        make_skill(library=library, title="Draft three", status=SkillStatus.DRAFT),
    ]


# -- promotions -------------------------------------------------------------------


def test_a_promotion_into_a_library_starts_as_a_draft(user, library):
    # given an active user skill
    skill = make_skill(owner=user)
    # when
    promoted = skill_promote(skill_id=skill.pk, library=library)
    # then it waits in the review queue, and its promotion version says so
    assert promoted.status == SkillStatus.DRAFT
    version = promoted.versions.get(number=2)
    assert (version.origin, version.status) == ("promotion", SkillStatus.DRAFT)
    assert SkillDraft.objects.filter(pk=skill.pk).exists()


# -- review queue -----------------------------------------------------------------


def test_the_queue_lists_only_drafts_with_counts(admin_client, user, drafts):
    # given an active skill beside the drafts
    make_skill(owner=user, title="Live one")
    # when
    response = admin_client.get(QUEUE)
    # then
    assert response.status_code == 200
    html = response.text
    for draft in drafts:
        assert draft.title in html
    assert "Live one" not in html
    assert "<strong>3</strong> drafts waiting for review" in html
    assert "3 from manual edit" in html
    assert 'id="js-error"' in html


def test_an_empty_queue_says_so(admin_client):
    response = admin_client.get(QUEUE)
    assert response.status_code == 200
    assert "No drafts are waiting for review." in response.text


def test_approving_makes_drafts_active_through_the_service(
    admin_client, admin_user, drafts
):
    # when two of three drafts are approved
    response = admin_client.post(
        QUEUE,
        {
            "action": "approve_selected",
            "_selected_action": [drafts[0].pk, drafts[2].pk],
        },
        follow=True,
    )
    # then
    assert "Approved 2 skill(s)" in response.text
    for draft in (drafts[0], drafts[2]):
        draft.refresh_from_db()
        assert draft.status == SkillStatus.ACTIVE
        version = draft.versions.get(number=2)
        assert (version.origin, version.author, version.reason) == (
            "status",
            admin_user,
            "Approved in the review queue",
        )
    assert list(SkillDraft.objects.values_list("pk", flat=True)) == [drafts[1].pk]
    assert "<strong>1</strong> draft waiting" in response.text


def test_rejecting_archives_drafts_and_keeps_them(admin_client, admin_user, drafts):
    admin_client.post(
        QUEUE, {"action": "reject_selected", "_selected_action": [drafts[1].pk]}
    )
    rejected = Skill.objects.get(pk=drafts[1].pk)
    assert rejected.status == SkillStatus.ARCHIVED
    version = rejected.versions.get(number=2)
    assert (version.author, version.reason) == (
        admin_user,
        "Rejected in the review queue",
    )


def test_a_queue_entry_opens_the_skill_change_page(admin_client, drafts):
    response = admin_client.get(f"{QUEUE}{drafts[0].pk}/change/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/skills/skill/{drafts[0].pk}/change/"


def test_queue_query_count_does_not_grow_with_rows(admin_client, user, queries_for):
    for _ in range(3):
        make_skill(owner=user, status=SkillStatus.DRAFT)
    few = queries_for(admin_client, QUEUE)
    for _ in range(27):
        make_skill(owner=user, status=SkillStatus.DRAFT)
    many = queries_for(admin_client, QUEUE)
    assert few == many


def test_reviewing_needs_the_change_permission_on_the_queue(
    client, django_user_model, drafts
):
    # given staff who may look at the queue but not change drafts
    staff = django_user_model.objects.create_user(
        username="viewer", password="pw", is_staff=True
    )
    grant(staff, "view_skilldraft")
    client.force_login(staff)
    # then the queue shows, without the actions, and approving does nothing
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert "approve_selected" not in response.text
    client.post(
        QUEUE, {"action": "approve_selected", "_selected_action": [drafts[0].pk]}
    )
    drafts[0].refresh_from_db()
    assert drafts[0].status == SkillStatus.DRAFT


# -- usage counters ---------------------------------------------------------------


def add_usage(skill, user, **counters) -> SkillUsage:
    return SkillUsage.objects.create(user=user, skill=skill, **counters)


def test_usage_rows_show_counters_per_skill_and_user(admin_client, user, other_user):
    skill = make_skill(owner=user, title="Counted")
    add_usage(skill, user, retrieved=5, relevant=3, used=2)
    response = admin_client.get(USAGE)
    assert response.status_code == 200
    row = response.text.split("Counted", 1)[1].split("</tr>", 1)[0]
    assert '<td class="field-retrieved">5</td>' in row
    assert '<td class="field-relevant">3</td>' in row
    assert '<td class="field-used">2</td>' in row
    assert "alice" in row


def test_usage_filters_by_user_status_and_staleness(admin_client, user, settings):
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 3
    settings.AUTOSKILL_USAGE_PRUNE_MAX_USED = 0
    stale = make_skill(owner=user, title="Stale skill")
    fine = make_skill(owner=user, title="Useful skill")
    add_usage(stale, user, retrieved=4, judged=4, used=0)
    add_usage(fine, user, retrieved=4, judged=4, relevant=4, used=3)
    assert "Useful skill" not in admin_client.get(USAGE + "?stale=yes").text
    assert "Stale skill" in admin_client.get(USAGE + "?stale=yes").text
    assert "Stale skill" not in admin_client.get(USAGE + "?user=bob").text
    assert "Stale skill" in admin_client.get(USAGE + "?skill_status=active").text
    assert "Stale skill" not in admin_client.get(USAGE + "?skill_status=draft").text


def test_archiving_from_usage_rows_archives_the_skills_once(
    admin_client, admin_user, user, other_user, library
):
    # given a library skill counted for two users, and a user's skill
    shared = make_skill(library=library, title="Shared")
    own = make_skill(owner=user, title="Own")
    rows = [
        add_usage(shared, user, retrieved=3),
        add_usage(shared, other_user, retrieved=2),
        add_usage(own, user, retrieved=1),
    ]
    # when
    response = admin_client.post(
        USAGE,
        {"action": "archive_skills", "_selected_action": [r.pk for r in rows]},
        follow=True,
    )
    # then each skill is archived once, by the curator
    assert "Archived 2 skill(s)" in response.text
    for skill in (shared, own):
        skill.refresh_from_db()
        assert skill.status == SkillStatus.ARCHIVED
        assert skill.version_number == 2
        assert skill.versions.get(number=2).author == admin_user
    assert SkillUsage.objects.count() == 3


def test_usage_archive_needs_the_skill_change_permission(
    client, django_user_model, user
):
    staff = django_user_model.objects.create_user(
        username="viewer", password="pw", is_staff=True
    )
    grant(staff, "view_skillusage")
    client.force_login(staff)
    skill = make_skill(owner=user)
    row = add_usage(skill, user, retrieved=1)
    response = client.get(USAGE)
    assert response.status_code == 200
    assert "archive_skills" not in response.text
    client.post(USAGE, {"action": "archive_skills", "_selected_action": [row.pk]})
    skill.refresh_from_db()
    assert skill.status == SkillStatus.ACTIVE


def test_usage_query_count_does_not_grow_with_rows(
    admin_client, user, library, queries_for
):
    def add(count: int) -> None:
        for n in range(count):
            skill = make_skill(owner=user) if n % 2 else make_skill(library=library)
            add_usage(skill, user, retrieved=n, used=0)

    add(3)
    few = queries_for(admin_client, USAGE)
    add(27)
    many = queries_for(admin_client, USAGE)
    assert few == many
