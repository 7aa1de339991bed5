# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""The fields the original's evaluation client reads (ref-server.md §6.5) are served."""

from __future__ import annotations

import json
import time

import pytest

from proxy.auth import api_key_create
from tests.proxy.live_server import asgi_server, http_client  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = [
    {"role": "user", "content": "Let's plan the 2.4 release."},
    {"role": "assistant", "content": "Sure."},
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },  # noqa: E501
]


@pytest.fixture
def service_headers(settings, user) -> dict[str, str]:
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    settings.AUTOSKILL_REWRITE_MODE = "never"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "QUEUES": ["default", "extraction", "audit"]}}  # fmt: skip
    key = api_key_create(owner=user, can_act_for_users=True).secret
    return {"Authorization": f"Bearer {key}"}


def _job(http_client, url: str, headers: dict, job_id: str, user: str) -> dict:
    for _ in range(100):
        body = http_client.get(f"{url}/v1/autoskill/extractions/{job_id}",
                               headers={**headers, "X-AutoSkill-User": user}).json()  # fmt: skip
        if body["data"]["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished: {body}")


def test_models_list_has_a_first_id(asgi_server, http_client, service_headers):
    body = http_client.get(
        f"{asgi_server.url}/v1/models", headers=service_headers
    ).json()
    assert isinstance(body["data"][0]["id"], str) and body["data"][0]["id"]


def test_non_stream_response_names_the_job_and_the_job_lists_upserted_ids(
    asgi_server, http_client, service_headers
):
    # when
    response = http_client.post(
        f"{asgi_server.url}/v1/chat/completions", headers=service_headers,
        json={"model": "m", "stream": False, "user": "case_1_evo", "messages": WINDOW},
    )  # fmt: skip
    # then
    extraction = response.json()["autoskill"]["extraction"]
    assert extraction["status"] == "scheduled" and extraction["job_id"]
    body = _job(
        http_client,
        asgi_server.url,
        service_headers,
        extraction["job_id"],
        "case_1_evo",
    )
    assert body["data"]["status"] == "completed"
    assert body["data"]["upserted"] and body["data"]["upserted"][0]["id"]


def test_first_stream_chunk_carries_the_extraction(
    asgi_server, http_client, service_headers
):
    # when
    with http_client.stream(
        "POST", f"{asgi_server.url}/v1/chat/completions",
        headers={**service_headers, "Accept": "text/event-stream"},
        json={"model": "m", "stream": True, "user": "case_2_evo", "messages": WINDOW},
    ) as response:  # fmt: skip
        chunks = [json.loads(line[5:]) for line in response.iter_lines()
                  if line.startswith("data:") and line.strip() != "data: [DONE]"]  # fmt: skip
    # then
    first = chunks[0]
    assert first["autoskill"]["extraction"]["job_id"]
    assert first["autoskill"]["extraction"]["status"] == "scheduled"
    job_id = first["autoskill"]["extraction"]["job_id"]
    body = _job(http_client, asgi_server.url, service_headers, job_id, "case_2_evo")
    assert body["data"]["upserted"][0]["id"]


def test_another_sub_user_cannot_read_the_job(
    asgi_server, http_client, service_headers
):
    response = http_client.post(
        f"{asgi_server.url}/v1/chat/completions", headers=service_headers,
        json={"model": "m", "user": "case_3_evo", "messages": WINDOW},
    )  # fmt: skip
    job_id = response.json()["autoskill"]["extraction"]["job_id"]
    other = http_client.get(f"{asgi_server.url}/v1/autoskill/extractions/{job_id}",
                            headers={**service_headers, "X-AutoSkill-User": "someone_else"})  # fmt: skip
    assert other.status_code == 404
