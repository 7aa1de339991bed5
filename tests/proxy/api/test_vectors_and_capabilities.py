"""Staff-only vector status / rebuild, and the capabilities document."""

from __future__ import annotations

import pytest
from django.urls import resolve

from autoskill_site.providers.embeddings import embedder_from_settings
from retrieval.models import SkillEmbedding
from skills.models import Skill
from tests.factories import make_skill
from tests.proxy.api import extraction_fixtures as fixtures
from tests.proxy.api.extraction_fixtures import bearer

pytestmark = pytest.mark.django_db
STATUS = "/v1/autoskill/vectors/status"
REBUILD = "/v1/autoskill/vectors/rebuild"
CAPABILITIES = "/v1/autoskill/capabilities"
auth = fixtures.auth
immediate_tasks = fixtures.immediate_tasks


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="carol", password="pw-carol-123", is_staff=True
    )


@pytest.fixture
def staff_auth(staff) -> dict[str, str]:
    return bearer(staff)


@pytest.fixture
def skills(user, library, on_commit) -> list[Skill]:
    with on_commit():
        return [
            make_skill(owner=user, title="One"),
            make_skill(owner=user, title="Two"),
            make_skill(library=library, title="Three"),
        ]


def current_row(body: dict) -> dict:
    return next(row for row in body["data"] if row["current"])


@pytest.mark.parametrize(("method", "url"), [("get", STATUS), ("post", REBUILD)])
def test_vectors_endpoints_are_staff_only(client, auth, method, url):
    response = getattr(client, method)(url, content_type="application/json", **auth)

    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_status_counts_embedded_stale_and_missing_per_signature(
    client, staff_auth, skills
):
    signature = embedder_from_settings().signature
    fresh = current_row(client.get(STATUS, **staff_auth).json())
    # Changed behind the services' back, so nothing re-embeds it: a stale vector.
    Skill.objects.filter(pk=skills[0].pk).update(description="Entirely new purpose.")
    SkillEmbedding.objects.filter(skill=skills[1]).delete()

    body = client.get(STATUS, **staff_auth).json()

    assert fresh["signature"] == signature
    assert (fresh["embedded"], fresh["stale"], fresh["missing"]) == (3, 0, 0)
    row = current_row(body)
    assert (row["total_skills"], row["embedded"], row["stale"], row["missing"]) == (
        3,
        1,
        1,
        1,
    )
    assert body["embeddings"]["provider"] == "hashing"
    library_only = current_row(
        client.get(STATUS, {"scope": "common"}, **staff_auth).json()
    )
    assert (library_only["total_skills"], library_only["embedded"]) == (1, 1)


def test_status_lists_other_signatures_too(client, staff_auth, skills):
    SkillEmbedding.objects.create(
        skill=skills[0], signature="skills-old-model-abc", content_hash="x", dims=4,
        vector=b"\x00" * 16,
    )  # fmt: skip

    rows = client.get(STATUS, **staff_auth).json()["data"]

    old = next(r for r in rows if r["signature"] == "skills-old-model-abc")
    assert (old["current"], old["embedded"], old["stale"], old["missing"]) == (
        False,
        0,
        1,
        2,
    )
    assert rows[0]["current"] is True


def test_rebuild_embeds_only_what_is_missing_or_stale(
    client, staff_auth, skills, immediate_tasks
):
    Skill.objects.filter(pk=skills[0].pk).update(description="Entirely new purpose.")
    SkillEmbedding.objects.filter(skill=skills[1]).delete()

    response = client.post(REBUILD, {}, content_type="application/json", **staff_auth)

    assert response.status_code == 202
    body = response.json()
    assert body["object"] == "vector_rebuild" and body["status"] == "completed"
    assert (body["result"]["embedded"], body["result"]["fresh"]) == (2, 1)
    row = current_row(client.get(STATUS, **staff_auth).json())
    assert (row["embedded"], row["stale"], row["missing"]) == (3, 0, 0)


def test_forced_rebuild_re_embeds_the_scope(
    client, staff_auth, skills, immediate_tasks
):
    response = client.post(
        REBUILD,
        {"force": True, "scope": "user"},
        content_type="application/json",
        **staff_auth,
    )

    assert response.json()["result"]["embedded"] == 2
    assert response.json()["scope"] == "user"


def test_rebuild_queues_a_task_with_the_database_backend(client, staff_auth, skills):
    response = client.post(REBUILD, {}, content_type="application/json", **staff_auth)

    assert response.status_code == 202
    assert (response.json()["status"], response.json()["result"]) == ("scheduled", None)


def test_bad_scope_is_a_400(client, staff_auth):
    response = client.get(STATUS, {"scope": "everything"}, **staff_auth)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "scope"


def test_capabilities_describe_this_server(client, auth):
    response = client.get(CAPABILITIES, **auth)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "autoskill.capabilities"
    data = body["data"]
    assert data["version"] == "0.1.0"
    assert data["user"] == {"username": "alice", "is_staff": False}
    assert data["llm"]["chat"]["provider"] == "offline"
    assert data["embeddings"]["provider"] == "hashing"
    assert data["retrieval"]["scopes"] == ["user", "library", "all"]
    assert data["limits"]["event_stream_timeout_max_s"] == 300
    extractions = data["endpoints"]["extractions"]
    assert extractions["events_stream"] == "/v1/autoskill/extractions/{job_id}/events"
    assert (
        data["endpoints"]["retrieval"]["preview"] == "/v1/autoskill/retrieval/preview"
    )
    for group in data["endpoints"].values():
        for path in group.values():
            probe = path.replace("{job_id}", "00000000-0000-4000-8000-000000000000")
            probe = probe.replace("{skill_id}", "00000000-0000-4000-8000-000000000000")
            resolve(probe.replace("{import_id}", "x"))  # every advertised path exists


def test_capabilities_need_authentication(client):
    assert client.get(CAPABILITIES).status_code == 401
