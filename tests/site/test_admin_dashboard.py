"""The admin index is a dashboard: the counts curators act on, in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from autoskill_site.dashboard import dashboard_counts
from extraction.jobs import job_claim, job_fail
from extraction.models import ExtractionJob
from extraction.pipeline import job_run
from extraction.services import extraction_submit, job_cancel
from retrieval.usage import UsageJudgment, usage_record
from skills.services import skill_archive
from tests.factories import make_skill

pytestmark = pytest.mark.django_db

RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."


def submit(user, text):
    job, _ = extraction_submit(
        user=user, messages=[{"role": "user", "content": text}], trigger="extract_now"
    )
    return job


def judge(user, skill, *, times, used=0):
    """`times` judged retrievals of `skill` by its owner, `used` of them used."""
    for i in range(times):
        usage_record(
            user=user,
            judgments=[
                UsageJudgment(
                    skill_id=str(skill.pk), relevant=True, used=i < used, query=f"q{i}"
                )
            ],
            judge="heuristic",
        )


@pytest.fixture
def skills(user, other_user, library):
    """Two active, two draft (one in a library), one archived."""
    return {
        "hot": make_skill(owner=user, title="Hot skill"),
        "warm": make_skill(owner=other_user, title="Warm skill"),
        "draft": make_skill(owner=user, title="Draft skill", status="draft"),
        "library_draft": make_skill(library=library, title="Lib draft", status="draft"),
        "archived": make_skill(owner=user, title="Old skill"),
    }


def test_skills_by_status_review_queue_stale_and_top_used(
    user, other_user, skills, settings
):
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 3
    settings.AUTOSKILL_USAGE_PRUNE_MAX_USED = 0
    judge(user, skills["hot"], times=5, used=4)
    judge(other_user, skills["warm"], times=3, used=1)
    judge(user, skills["draft"], times=3)  # a draft is not stale: pruning skips it
    judge(user, skills["archived"], times=6, used=6)
    skill_archive(skill_id=skills["archived"].pk)
    stale = make_skill(owner=other_user, title="Never used")
    judge(other_user, stale, times=3)  # judged 3 times, never used

    counts = dashboard_counts()

    assert counts.skills_by_status == {"draft": 2, "active": 3, "archived": 1}
    assert counts.review_queue == 2
    assert counts.stale_skills == 1
    assert [(s.title, s.used, s.retrieved, s.owner) for s in counts.top_used] == [
        ("Hot skill", 4, 5, "alice"),
        ("Warm skill", 1, 3, "bob"),
    ]  # unused and archived skills are not listed

    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 0  # pruning off: nothing is stale
    assert dashboard_counts().stale_skills == 0


def test_top_used_is_capped(user):
    for i in range(4):
        skill = make_skill(owner=user, title=f"Skill {i}")
        judge(user, skill, times=i + 1, used=i + 1)

    top = dashboard_counts(top=3).top_used

    assert [s.title for s in top] == ["Skill 3", "Skill 2", "Skill 1"]


def test_jobs_of_the_last_day_by_outcome_and_jobs_in_flight(user, admin_user):
    added = submit(user, RELEASE)
    job_run(job=job_claim(job_id=added.pk, capped=False))
    failed = submit(user, "rule two: never use tabs")
    job_fail(
        job=job_claim(job_id=failed.pk, capped=False, worker="w"),
        error="boom",
        retryable=False,
        worker="w",
    )
    job_cancel(
        job_id=submit(user, "rule three: answer in French").pk, author=admin_user
    )
    submit(user, "rule four: always use pnpm")  # queued
    job_claim(job_id=submit(user, "rule five: short replies").pk, capped=False)
    old = submit(user, "rule six: British spelling")
    job_cancel(job_id=old.pk, author=admin_user)
    ExtractionJob.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(days=2)
    )

    counts = dashboard_counts()

    assert counts.jobs_finished == {
        "no_candidate": 0,
        "added": 1,
        "merged": 0,
        "discarded": 0,
        "error": 1,
        "cancelled": 1,
    }
    assert counts.jobs_in_flight == {"scheduled": 1, "running": 1}


def test_counts_take_four_queries_however_much_data_there_is(
    user, skills, django_assert_num_queries
):
    with django_assert_num_queries(4):
        dashboard_counts()
    for i in range(20):
        judge(user, make_skill(owner=user, title=f"More {i}"), times=1, used=1)
        submit(user, f"rule {i}: always use pnpm")
    with django_assert_num_queries(4):
        dashboard_counts()


def test_admin_index_shows_the_dashboard_with_links(admin_client, user, skills):
    judge(user, skills["hot"], times=2, used=2)

    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    body = response.content.decode()
    assert response.context["dashboard"].review_queue == 2
    assert (
        'id="ops-review-queue"' in body and "draft skills in the review queue" in body
    )
    try:
        queue_url = reverse("admin:skills_skilldraft_changelist")
    except Exception:  # noqa: BLE001 - the review queue admin may not be registered
        queue_url = reverse("admin:skills_skill_changelist") + "?status__exact=draft"
    assert f'href="{queue_url}"' in body
    assert reverse("admin:skills_skill_change", args=[skills["hot"].pk]) in body
    assert "Extraction jobs finished in the last 24 hours" in body
    # The usual app list is still there.
    assert reverse("admin:proxy_apikey_changelist") in body


def test_every_dashboard_link_opens_the_filtered_list_it_counts(
    admin_client, user, skills, settings
):
    """A link whose filter the list does not know would land on an '?e=1' error page."""
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 1
    judge(user, skills["hot"], times=1)  # judged once, never used: stale
    added = submit(user, RELEASE)
    job_run(job=job_claim(job_id=added.pk, capped=False))
    context = admin_client.get(reverse("admin:index")).context

    def listed(url):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        return response.context["cl"].result_count

    assert listed(context["review_queue_url"]) == 2
    assert listed(context["stale_url"]) == 1
    for status, count, url in context["skills_by_status"]:
        assert listed(url) == count, status
    for label, _, count, url in context["jobs_finished"]:
        assert listed(url) == count, label
    for status, count, url in context["jobs_in_flight"]:
        assert listed(url) == count, status


def test_admin_index_redirects_non_staff_to_login(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_see_only_the_sections_they_may_view(client, django_user_model, skills):
    staff = django_user_model.objects.create_user(username="ops", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_extractionjob"))
    client.force_login(staff)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Extraction jobs finished in the last 24 hours" in body
    assert 'id="ops-review-queue"' not in body and "Most used skills" not in body
    assert response.context["dashboard"].skills_by_status == {}
