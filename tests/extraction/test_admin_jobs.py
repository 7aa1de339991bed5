"""Extraction jobs in the admin, and the re-run / cancel services it calls."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from autoskill_site.exceptions import Conflict, NotFound
from extraction.events import user_group
from extraction.jobs import job_claim, job_complete, live_job_for_window
from extraction.models import ExtractionJob, JobEvent
from extraction.pipeline import job_run
from extraction.services import extraction_submit, job_cancel, job_rerun
from skills.models import Skill

pytestmark = pytest.mark.django_db

RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."
LIST_URL = "admin:extraction_extractionjob_changelist"


def submit(user, text=RELEASE):
    job, created = extraction_submit(
        user=user, messages=[{"role": "user", "content": text}], trigger="extract_now"
    )
    assert created
    return job


def finished(user, text=RELEASE):
    """A job run to completion by the offline provider (it adds a skill for RELEASE)."""
    job = submit(user, text)
    return job_run(job=job_claim(job_id=job.pk, capped=False))


def change_url(job):
    return reverse("admin:extraction_extractionjob_change", args=[job.pk])


def events_of(job):
    return list(
        JobEvent.objects.filter(job=job)
        .order_by("seq")
        .values_list("status", "message")
    )


def drain(layer, channel):
    async def read_all():
        got = []
        while True:
            try:
                got.append(await asyncio.wait_for(layer.receive(channel), 0.2))
            except TimeoutError:
                return got

    return async_to_sync(read_all)()


@pytest.fixture
def staff_viewer(django_user_model):
    """Staff who may look at jobs but not act on them."""
    viewer = django_user_model.objects.create_user(
        username="viewer", password="pw-viewer-123", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_extractionjob"))
    return viewer


# -- services -------------------------------------------------------------------------


def test_rerun_creates_a_new_job_over_the_same_evidence_and_keeps_the_old_one(
    user, admin_user
):
    old = finished(user)
    decision, upserted = old.decision, old.upserted
    assert (old.status, old.outcome) == ("completed", "added")

    new = job_rerun(job_id=old.pk, author=admin_user)

    old.refresh_from_db()
    assert new.pk != old.pk and new.status == "scheduled"
    assert (new.window, new.hint, new.trigger, new.window_hash) == (
        old.window, old.hint, old.trigger, old.window_hash,
    )  # fmt: skip
    assert new.source["rerun_of"] == str(old.pk)
    # The old row is untouched apart from the link to its re-run.
    assert (old.status, old.outcome, old.decision, old.upserted) == (
        "completed", "added", decision, upserted,
    )  # fmt: skip
    assert old.superseded_at is not None and new.rerun_of == old and old.rerun == new
    assert events_of(old)[-1] == ("completed", f"re-run as job {new.pk} by admin")
    assert events_of(new)[-1] == (
        "scheduled",
        f"re-run of job {old.pk} requested by admin",
    )
    # The re-run now owns the window: a client re-sending it finds the new job.
    assert live_job_for_window(user=user, window_hash=old.window_hash) == new
    again, created = extraction_submit(
        user=user,
        messages=[{"role": "user", "content": RELEASE}],
        trigger="extract_now",
    )
    assert (again.pk, created) == (new.pk, False)


def test_a_rerun_runs_like_any_job_and_merges_into_the_skill_the_first_run_added(
    user, admin_user
):
    old = finished(user)
    new = job_rerun(job_id=old.pk, author=admin_user)

    new = job_run(job=job_claim(job_id=new.pk, capped=False))

    assert new.status == "completed" and new.outcome in ("merged", "discarded")
    assert Skill.objects.filter(owner=user).count() == 1


def test_rerun_refuses_live_jobs_second_reruns_and_missing_jobs(user, admin_user):
    queued = submit(user, "always use pnpm, never npm")
    with pytest.raises(Conflict, match="only completed, failed or cancelled"):
        job_rerun(job_id=queued.pk, author=admin_user)

    done = finished(user)
    first = job_rerun(job_id=done.pk, author=admin_user)
    with pytest.raises(Conflict, match=f"already re-run as job {first.pk}"):
        job_rerun(job_id=done.pk, author=admin_user)

    with pytest.raises(NotFound):
        job_rerun(job_id="not-a-uuid", author=admin_user)
    assert ExtractionJob.objects.count() == 3  # nothing half-made by the refusals


def test_rerun_of_a_failed_job_whose_window_was_resubmitted_points_to_the_new_job(
    user, admin_user
):
    failed = submit(user)
    ExtractionJob.objects.filter(pk=failed.pk).update(status="failed", outcome="error")
    resubmitted = submit(user)  # a failed window may be submitted again

    with pytest.raises(Conflict, match=f"Job {resubmitted.pk} .* already covers"):
        job_rerun(job_id=failed.pk, author=admin_user)
    failed.refresh_from_db()
    assert failed.superseded_at is None  # the refusal rolled everything back
    assert ExtractionJob.objects.count() == 2


def test_pruning_a_rerun_or_its_original_keeps_the_window_owned_and_loses_nothing(
    user, admin_user
):
    """Old job re-run, the re-run failed, the window sent again: pruning the finished
    ones must neither crash on the window constraint nor free the window twice."""
    from django.core.management import call_command

    old = finished(user)
    rerun = job_rerun(job_id=old.pk, author=admin_user)
    ExtractionJob.objects.filter(pk=rerun.pk).update(status="failed", outcome="error")
    third = submit(user)  # allowed: the re-run failed and the old job is superseded
    long_ago = timezone.now() - timedelta(days=40)
    ExtractionJob.objects.filter(pk__in=[old.pk, rerun.pk]).update(finished_at=long_ago)

    call_command("prune_extraction_jobs", "--days", "30", stdout=io.StringIO())

    assert list(ExtractionJob.objects.values_list("pk", flat=True)) == [third.pk]
    assert live_job_for_window(user=user, window_hash=third.window_hash) == third


def test_an_original_whose_rerun_was_pruned_can_be_rerun_again(user, admin_user):
    old = finished(user)
    first = job_rerun(job_id=old.pk, author=admin_user)
    ExtractionJob.objects.filter(pk=first.pk).delete()

    second = job_rerun(job_id=old.pk, author=admin_user)

    assert second.rerun_of == old and second.status == "scheduled"


def test_rerun_is_refused_while_extraction_is_disabled(user, admin_user, settings):
    done = finished(user)
    settings.AUTOSKILL_EXTRACT_ENABLED = False
    with pytest.raises(Conflict, match="disabled"):
        job_rerun(job_id=done.pk, author=admin_user)


def test_cancel_stops_a_queued_job_and_no_worker_takes_it(user, admin_user):
    job = submit(user)

    cancelled = job_cancel(job_id=job.pk, author=admin_user)

    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert events_of(job)[-1] == ("cancelled", "cancelled by admin")
    assert job_claim(job_id=job.pk, capped=False) is None
    assert job_claim() is None


def test_cancel_refuses_a_running_job_with_a_live_lease(user, admin_user):
    job = submit(user)
    job_claim(job_id=job.pk, worker="w1", capped=False)

    with pytest.raises(Conflict, match="running now and cannot be stopped"):
        job_cancel(job_id=job.pk, author=admin_user)
    job.refresh_from_db()
    assert job.status == "running"


def test_cancel_takes_a_running_job_whose_worker_died_and_the_worker_cannot_finish_it(
    user, admin_user
):
    job = submit(user)
    claimed = job_claim(job_id=job.pk, worker="dead", capped=False)
    ExtractionJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert job_cancel(job_id=job.pk, author=admin_user).status == "cancelled"
    assert not job_complete(
        job=claimed, outcome="added", decision={}, upserted=[], worker="dead"
    )
    job.refresh_from_db()
    assert (job.status, job.lease_owner) == ("cancelled", "")


def test_cancel_refuses_finished_jobs(user, admin_user):
    done = finished(user)
    with pytest.raises(Conflict, match="already completed"):
        job_cancel(job_id=done.pk, author=admin_user)


def test_a_cancelled_job_can_be_rerun(user, admin_user):
    job = submit(user)
    job_cancel(job_id=job.pk, author=admin_user)
    new = job_rerun(job_id=job.pk, author=admin_user)
    assert new.status == "scheduled" and new.source["rerun_of"] == str(job.pk)


def test_cancel_and_rerun_events_reach_the_owner_but_the_old_jobs_note_is_not_pushed(
    user, admin_user, django_capture_on_commit_callbacks, settings
):
    """A pushed 'completed' event reads as news in the browser; the note must not be one."""
    from channels.layers import get_channel_layer

    # Which events are pushed is the question, not the transport: a Redis receive
    # cancelled by drain()'s timeout stays bound to that call's event loop.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), channel)
    old = finished(user)
    queued = submit(user, "always use pnpm, never npm")
    drain(layer, channel)

    with django_capture_on_commit_callbacks(execute=True):
        new = job_rerun(job_id=old.pk, author=admin_user)
        job_cancel(job_id=queued.pk, author=admin_user)

    pushed = [m["event"] for m in drain(layer, channel)]
    assert [(e["job_id"], e["status"]) for e in pushed] == [
        (str(new.pk), "scheduled"),
        (str(new.pk), "scheduled"),
        (str(queued.pk), "cancelled"),
    ]
    assert pushed[-1]["message"] == "cancelled by admin"
    assert JobEvent.objects.filter(job=old, message__startswith="re-run as").exists()
    async_to_sync(layer.group_discard)(user_group(user.pk), channel)


# -- admin pages ----------------------------------------------------------------------


def test_non_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    response = client.get(reverse(LIST_URL))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_changelist_shows_status_trigger_outcome_user_and_duration(admin_client, user):
    done = finished(user)
    ExtractionJob.objects.filter(pk=done.pk).update(
        started_at=done.finished_at - timedelta(seconds=12.5)
    )
    submit(user, "always use pnpm, never npm")

    response = admin_client.get(reverse(LIST_URL))

    assert response.status_code == 200
    rows = {row.pk: row for row in response.context["cl"].result_list}
    assert rows[done.pk].run_time == timedelta(seconds=12.5)
    body = response.content.decode()
    assert "12.5 s" in body and "alice" in body and "Extract Now" in body
    assert "Re-run selected jobs" in body and "Cancel selected queued jobs" in body


def test_changelist_search_by_id_prefix_and_username_and_filters(
    admin_client, user, other_user
):
    mine = submit(user)
    theirs = submit(other_user, "answer in French")
    url = reverse(LIST_URL)

    def listed(**params):
        response = admin_client.get(url, params)
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed(q=str(mine.pk)[:8]) == {mine.pk}
    assert listed(q=str(theirs.pk)) == {theirs.pk}
    assert listed(q="bob") == {theirs.pk}
    assert listed(status__exact="scheduled", trigger__exact="extract_now") == {
        mine.pk,
        theirs.pk,
    }
    assert listed(status__exact="completed") == set()


def _changelist_queries(client, count_before):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(LIST_URL))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == count_before
    return len(queries)


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_user_model, django_assert_max_num_queries
):
    owners = [
        django_user_model.objects.create_user(username=f"user{i}") for i in range(6)
    ]

    def add_jobs(start, stop):
        for i in range(start, stop):
            job = submit(owners[i % len(owners)], f"rule number {i}: always use pnpm")
            if i % 3 == 0:
                job_run(job=job_claim(job_id=job.pk, capped=False))

    add_jobs(0, 3)
    with django_assert_max_num_queries(12):
        few = _changelist_queries(admin_client, 3)
    add_jobs(3, 30)
    with django_assert_max_num_queries(12):
        many = _changelist_queries(admin_client, 30)
    assert few == many


def test_detail_shows_the_escaped_transcript_decision_timeline_and_skill(
    admin_client, user
):
    job = finished(user, f"{RELEASE} <script>alert(1)</script>")
    skill = Skill.objects.get(owner=user)

    response = admin_client.get(change_url(job))

    assert response.status_code == 200
    body = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)</script>" not in body
    assert 'class="ops-turn ops-turn-user"' in body
    # Decision summary, with the added skill linked to its admin page.
    assert "<dt>Action</dt><dd>add</dd>" in body
    assert reverse("admin:skills_skill_change", args=[skill.pk]) in body
    assert (
        "Decision record (JSON)" in body
        and "&quot;action&quot;: &quot;add&quot;" in body
    )
    # The timeline, in order.
    timeline = body[body.index("Event timeline") :]
    messages = [m for _, m in events_of(job)]
    cells = re.findall(r'<td class="field-message">\s*<p>([^<]*)</p>', timeline)
    assert cells == messages
    assert messages == ["scheduled", "running (attempt 1)", "added"]
    assert 'id="job-rerun"' in body and 'id="job-cancel"' not in body


def test_detail_of_a_queued_job_offers_cancel_not_rerun(admin_client, user):
    job = submit(user)
    body = admin_client.get(change_url(job)).content.decode()
    assert 'id="job-cancel"' in body and 'id="job-rerun"' not in body


def test_rerun_action_queues_new_jobs_and_reports_refusals(admin_client, user):
    done = finished(user)
    queued = submit(user, "always use pnpm, never npm")

    response = admin_client.post(
        reverse(LIST_URL),
        {"action": "rerun_jobs", "_selected_action": [done.pk, queued.pk]},
        follow=True,
    )

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert "Queued re-runs of 1 job(s)." in shown
    assert any("is scheduled; only completed" in m for m in shown)
    done.refresh_from_db()
    assert done.rerun.status == "scheduled"


def test_cancel_action_cancels_queued_jobs_and_reports_running_ones(admin_client, user):
    queued = submit(user)
    running = submit(user, "always use pnpm, never npm")
    job_claim(job_id=running.pk, capped=False)

    response = admin_client.post(
        reverse(LIST_URL),
        {"action": "cancel_jobs", "_selected_action": [queued.pk, running.pk]},
        follow=True,
    )

    shown = [str(m) for m in response.context["messages"]]
    assert "Cancelled 1 job(s)." in shown
    assert any("cannot be stopped safely" in m for m in shown)
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (queued.status, running.status) == ("cancelled", "running")


def test_rerun_button_opens_the_new_job_and_cancel_button_reports_errors(
    admin_client, user
):
    done = finished(user)

    response = admin_client.post(
        reverse("admin:extraction_extractionjob_rerun", args=[done.pk])
    )
    done.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == change_url(done.rerun)
    new_page = admin_client.get(response["Location"]).content.decode()
    assert f'Re-run of <a href="{change_url(done)}">{done.pk}</a>' in new_page
    old_page = admin_client.get(change_url(done)).content.decode()
    assert f're-run as <a href="{change_url(done.rerun)}">' in old_page
    assert (
        'id="job-rerun"' not in old_page
    )  # re-run once; the next belongs on the new job

    response = admin_client.post(
        reverse("admin:extraction_extractionjob_cancel", args=[done.pk]), follow=True
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any("already completed; only queued jobs" in m for m in shown)

    # A GET changes nothing and says how to act instead.
    response = admin_client.get(
        reverse("admin:extraction_extractionjob_rerun", args=[done.pk]), follow=True
    )
    assert any("Use the buttons" in str(m) for m in response.context["messages"])
    assert ExtractionJob.objects.count() == 2


def test_staff_without_change_permission_can_look_but_not_rerun_or_cancel(
    client, staff_viewer, user
):
    done = finished(user)
    queued = submit(user, "always use pnpm, never npm")
    client.force_login(staff_viewer)

    listing = client.get(reverse(LIST_URL))
    assert listing.status_code == 200
    assert "Re-run selected jobs" not in listing.content.decode()
    detail = client.get(change_url(done)).content.decode()
    assert 'id="job-rerun"' not in detail

    rerun = client.post(reverse("admin:extraction_extractionjob_rerun", args=[done.pk]))
    cancel = client.post(
        reverse("admin:extraction_extractionjob_cancel", args=[queued.pk])
    )
    bulk = client.post(
        reverse(LIST_URL), {"action": "cancel_jobs", "_selected_action": [queued.pk]}
    )
    assert (rerun.status_code, cancel.status_code) == (403, 403)
    assert bulk.status_code in (200, 302)
    queued.refresh_from_db()
    done.refresh_from_db()
    assert (queued.status, done.superseded_at) == ("scheduled", None)
