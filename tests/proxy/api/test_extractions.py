"""Extract now, simulate, list, latest and get: /v1/autoskill/extractions[...]."""

from __future__ import annotations

import uuid

import pytest

from extraction.models import ExtractionJob, JobEvent, JobTrigger
from retrieval.models import SkillEmbedding
from skills.models import Skill, SkillVersion
from tests.factories import make_skill
from tests.proxy.api import extraction_fixtures as fixtures
from tests.proxy.api.extraction_fixtures import RELEASE, bearer, run_job

auth, other_auth, fake_llm = fixtures.auth, fixtures.other_auth, fixtures.fake_llm

pytestmark = pytest.mark.django_db
URL = "/v1/autoskill/extractions"


def post(client, url, payload, headers):
    return client.post(url, payload, content_type="application/json", **headers)


def test_extract_now_queues_a_job_and_answers_202_with_its_scheduled_event(
    client, user, auth
):
    response = post(client, URL, {"messages": RELEASE, "hint": "release steps"}, auth)

    assert response.status_code == 202
    body = response.json()
    assert body["object"] == "extraction_event" and body["created"] is True
    event = body["data"]
    job = ExtractionJob.objects.get(pk=event["job_id"])
    assert (job.user, job.trigger, job.status, job.hint) == (
        user,
        JobTrigger.PROXY_EXTRACT_NOW,
        "scheduled",
        "release steps",
    )
    assert (event["status"], event["trigger"], event["seq"]) == (
        "scheduled",
        "proxy_extract_now",
        1,
    )
    assert job.source["endpoint"] == "extractions"


def test_the_same_window_again_returns_the_existing_job_with_200(client, auth):
    first = post(client, URL, {"messages": RELEASE}, auth).json()["data"]
    again = post(client, URL, {"messages": RELEASE}, auth)

    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["data"]["job_id"] == first["job_id"]
    assert ExtractionJob.objects.count() == 1


def test_a_bare_query_is_one_user_message(client, auth):
    response = post(client, URL, {"query": "Always answer in French."}, auth)

    assert response.status_code == 202
    job = ExtractionJob.objects.get()
    assert [m["role"] for m in job.window] == ["user"]
    assert job.window[0]["content"] == "Always answer in French."


def test_the_reference_is_the_top_hit_within_the_requested_scope(
    client, user, auth, library, on_commit
):
    with on_commit():
        mine = make_skill(
            owner=user, title="Release rollout", triggers=["release rollout canary"]
        )
        make_skill(
            library=library, title="Release rollout", triggers=["release rollout"]
        )
    payload = {
        "messages": [{"role": "user", "content": "release rollout canary steps"}],
        "scope": "user",
        "min_score": 0,
    }

    assert post(client, URL, payload, auth).status_code == 202

    reference = ExtractionJob.objects.get().reference
    assert reference["id"] == str(mine.pk) and reference["scope"] == "user"


def test_no_hit_in_the_scope_means_no_reference_at_all(
    client, user, auth, library, on_commit
):
    with on_commit():
        make_skill(library=library, title="Release rollout", triggers=["rollout"])
    payload = {"query": "release rollout", "scope": "user", "min_score": 0}

    assert post(client, URL, payload, auth).status_code == 202

    assert ExtractionJob.objects.get().reference is None


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"query": "x", "scope": "everyone"}, "scope"),
        ({"query": "x", "min_score": 2}, "min_score"),
    ],
)
def test_bad_input_is_a_400_envelope_naming_the_field(client, auth, payload, param):
    response = post(client, URL, payload, auth)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].split(".")[0] == param
    assert not ExtractionJob.objects.exists()


def test_a_window_without_user_turn_or_hint_is_rejected(client, auth):
    response = post(
        client, URL, {"messages": [{"role": "assistant", "content": "Hi"}]}, auth
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_disabled_extraction_is_a_409(client, auth, settings):
    settings.AUTOSKILL_EXTRACT_ENABLED = False

    response = post(client, URL, {"messages": RELEASE}, auth)

    assert response.status_code == 409
    assert response.json()["error"]["type"] == "conflict_error"


def test_no_key_is_a_401_envelope(client):
    response = post(client, URL, {"messages": RELEASE}, {})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_browser_session_works_too(client, user):
    client.force_login(user)

    assert client.get(URL).status_code == 200
    # DRF enforces CSRF for session writes.
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert post(csrf_client, URL, {"messages": RELEASE}, {}).status_code == 403


def test_a_service_key_extracts_for_its_sub_user(client, user):
    headers = bearer(user, can_act_for_users=True)

    response = post(client, URL, {"messages": RELEASE, "user": "case-17"}, headers)

    assert response.status_code == 202
    job = ExtractionJob.objects.get()
    assert (job.user.parent, job.user.external_id) == (user, "case-17")


def test_list_is_newest_first_paginated_and_only_mine(client, user, auth, other_auth):
    ids = []
    for n in range(3):
        body = post(client, URL, {"query": f"Always sign mails with team {n}."}, auth)
        ids.append(body.json()["data"]["job_id"])
    post(client, URL, {"query": "Bob's own rule."}, other_auth)

    page = client.get(URL, {"limit": 2}, **auth).json()
    rest = client.get(URL, {"limit": 2, "cursor": page["next_cursor"]}, **auth).json()

    assert page["object"] == "list" and page["has_more"] is True
    listed = [j["id"] for j in page["data"]] + [j["id"] for j in rest["data"]]
    assert listed == ids[::-1]
    assert rest["has_more"] is False
    assert page["data"][0]["object"] == "extraction_job"


def test_list_filters_by_status_and_rejects_unknown_values(client, auth):
    job_id = post(client, URL, {"messages": RELEASE}, auth).json()["data"]["job_id"]
    post(client, URL, {"query": "Another rule to remember."}, auth)
    run_job(job_id)

    done = client.get(URL, {"status": "completed"}, **auth).json()["data"]
    bad = client.get(URL, {"status": "sleeping"}, **auth)

    assert [j["id"] for j in done] == [job_id]
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "status"


def test_latest_is_null_first_then_my_newest_event(client, auth, other_auth):
    empty = client.get(f"{URL}/latest", **auth).json()
    job_id = post(client, URL, {"messages": RELEASE}, auth).json()["data"]["job_id"]
    run_job(job_id)
    post(client, URL, {"query": "Bob's rule."}, other_auth)

    latest = client.get(f"{URL}/latest", **auth).json()

    assert empty == {"object": "extraction_event", "data": None}
    assert latest["data"]["job_id"] == job_id
    assert latest["data"]["status"] == "completed"
    assert (
        latest["data"]["event_id"] == JobEvent.objects.filter(job_id=job_id).last().pk
    )


def test_get_shows_decision_outcome_skills_and_events(client, user, auth):
    job_id = post(client, URL, {"messages": RELEASE}, auth).json()["data"]["job_id"]
    run_job(job_id)

    body = client.get(f"{URL}/{job_id}", **auth).json()

    skill = Skill.objects.get(owner=user)
    assert (body["id"], body["status"], body["outcome"]) == (
        job_id,
        "completed",
        "added",
    )
    assert body["upserted"] == [
        {"id": str(skill.pk), "name": skill.name, "version": skill.version}
    ]
    assert body["decision"]["action"] == "add"
    assert [e["status"] for e in body["events"]] == [
        "scheduled",
        "running",
        "completed",
    ]
    assert body["window"][0]["role"] == "user"


def test_another_users_job_is_a_404_like_a_missing_one(client, auth, other_auth):
    job_id = post(client, URL, {"messages": RELEASE}, auth).json()["data"]["job_id"]

    theirs = client.get(f"{URL}/{job_id}", **other_auth)
    missing = client.get(f"{URL}/{uuid.uuid4()}", **auth)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["error"]["type"] == "not_found_error"
    assert client.get(URL, **other_auth).json()["data"] == []


def test_simulate_reports_the_candidate_and_decision_and_stores_nothing(
    client, user, auth
):
    counts = (
        ExtractionJob.objects.count(),
        JobEvent.objects.count(),
        Skill.objects.count(),
        SkillVersion.objects.count(),
        SkillEmbedding.objects.count(),
    )

    response = post(client, f"{URL}/simulate", {"messages": RELEASE}, auth)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "extraction_simulation" and body["user"] == "alice"
    assert body["outcome"] == "added"
    assert "canary" in body["candidate"]["instructions"].lower()
    assert body["decision"]["action"] == "add"
    assert counts == (
        ExtractionJob.objects.count(),
        JobEvent.objects.count(),
        Skill.objects.count(),
        SkillVersion.objects.count(),
        SkillEmbedding.objects.count(),
    )


def test_simulate_would_merge_into_my_existing_skill(client, user, auth):
    post(client, URL, {"messages": RELEASE}, auth)
    run_job(ExtractionJob.objects.get())
    restated = [
        {
            "role": "user",
            "content": "Release process: regression, canary, monitor, rollout.",
        },
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "And never skip the canary during a release."},
    ]

    body = post(client, f"{URL}/simulate", {"messages": restated}, auth).json()

    skill = Skill.objects.get(owner=user)
    assert body["outcome"] == "merged"
    assert body["decision"]["target_skill_id"] == str(skill.pk)
    assert Skill.objects.get(pk=skill.pk).version == skill.version


def test_simulate_upstream_failure_is_a_502_envelope(client, auth, settings, fake_llm):
    settings.AUTOSKILL_REWRITE_MODE = "never"
    fake_llm.fail("/v1/chat/completions", 500, "model exploded", times=3)

    response = post(client, f"{URL}/simulate", {"messages": RELEASE}, auth)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert not ExtractionJob.objects.exists()


def test_simulate_with_an_unusable_model_answer_is_a_502(
    client, auth, settings, fake_llm
):
    settings.AUTOSKILL_REWRITE_MODE = "never"
    fake_llm.reply_chat("I would rather chat.", "Still no JSON, sorry.")

    response = post(client, f"{URL}/simulate", {"messages": RELEASE}, auth)

    assert response.status_code == 502
    assert "unusable" in response.json()["error"]["message"]
