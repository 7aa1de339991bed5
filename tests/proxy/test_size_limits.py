# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""Oversized bodies: a 413 that names the limit, on every path, with nothing stored.

/v1 answers in the OpenAI envelope (never Django's HTML 400 or a 500), the pages with
a page that says what happened. Both the sync stack (Django's test client) and the
async one (a live ASGI server) are covered.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from extraction.models import ExtractionJob
from proxy.auth import api_key_create
from proxy.pages import CONTENT_SECURITY_POLICY
from skills.models import Skill
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT
from tests.proxy.live_server import (  # noqa: F401 - fixtures
    asgi_server,
    http_client,
    upstream,
)

LIMIT = 5_000
BIG = "x" * (LIMIT * 2)


@pytest.fixture
def small_limit(settings):
    settings.AUTOSKILL_MAX_REQUEST_BYTES = LIMIT
    return settings


@pytest.fixture
def key(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(owner=user).secret}"}


def envelope(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# -- the REST API (sync stack) ------------------------------------------------------


@pytest.mark.django_db
def test_an_oversized_skill_md_put_is_a_413_and_the_skill_is_unchanged(
    small_limit, client, key, user
):
    # given
    skill = make_skill(owner=user, instructions="Keep it short.")
    # when
    response = client.put(
        f"/v1/autoskill/skills/{skill.pk}/md",
        BIG.encode(),
        content_type="text/markdown",
        **key,
    )
    # then
    assert response.status_code == 413
    error = envelope(response)
    assert error["code"] == "payload_too_large"
    assert error["type"] == "invalid_request_error"
    assert f"is {len(BIG)} bytes; the limit is {LIMIT} bytes" in error["message"]
    assert "AUTOSKILL_MAX_REQUEST_BYTES" in error["message"]
    skill.refresh_from_db()
    assert skill.version_number == 1


@pytest.mark.django_db
def test_an_oversized_json_conversation_import_is_a_413_and_queues_nothing(
    small_limit, client, key
):
    payload = {"conversations": [{"messages": [{"role": "user", "content": BIG}]}]}

    response = client.post(
        "/v1/autoskill/conversations/import",
        json.dumps(payload),
        content_type="application/json",
        **key,
    )

    assert response.status_code == 413
    assert envelope(response)["code"] == "payload_too_large"
    assert not ExtractionJob.objects.exists()


@pytest.mark.django_db
def test_an_oversized_multipart_import_is_a_413_before_anything_is_read(
    small_limit, client, key
):
    upload = SimpleUploadedFile("big.zip", b"PK\x03\x04" + b"\0" * LIMIT * 2)

    response = client.post("/v1/autoskill/skills/import", {"file": upload}, **key)

    assert response.status_code == 413
    assert "AUTOSKILL_MAX_REQUEST_BYTES" in envelope(response)["message"]
    assert not Skill.objects.exists()


@pytest.mark.django_db
def test_a_form_field_over_django_s_memory_cap_is_a_413_not_a_500(
    settings, client, key
):
    """RequestDataTooBig escapes DRF's parsers; it answers 413, not a server error."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    upload = SimpleUploadedFile("s.md", b"---\nname: x\n---\n")

    response = client.post(
        "/v1/autoskill/skills/import", {"file": upload, "note": "n" * 5_000}, **key
    )

    assert response.status_code == 413
    error = envelope(response)
    assert error["code"] == "payload_too_large"
    assert "the limit is 1000 bytes" in error["message"]
    assert not Skill.objects.exists()


@pytest.mark.django_db
def test_too_many_form_fields_is_a_400_in_the_envelope_not_a_500(settings, client, key):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"f{i}": "1" for i in range(20)}
    upload = SimpleUploadedFile("s.md", b"---\nname: x\n---\n")

    response = client.post(
        "/v1/autoskill/skills/import", {"file": upload, **fields}, **key
    )

    assert response.status_code == 400
    assert envelope(response)["code"] == "too_many_fields"
    assert not Skill.objects.exists()


@pytest.mark.django_db
def test_a_body_within_the_limit_goes_through(small_limit, client, key, user):
    skill = make_skill(owner=user, instructions="Keep it short.")
    current = client.get(f"/v1/autoskill/skills/{skill.pk}/md", **key)
    text = current.content.decode().replace("Keep it short.", "Keep it shorter.")

    response = client.put(
        f"/v1/autoskill/skills/{skill.pk}/md",
        text.encode(),
        content_type="text/markdown",
        **key,
    )

    assert response.status_code == 200, response.content
    skill.refresh_from_db()
    assert skill.version_number == 2


# -- the pages (sync stack) ---------------------------------------------------------


def _assert_page(response, *, limit_text: str) -> str:
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = response.content.decode()
    assert "This request is too large" in html
    assert 'role="alert"' in html and limit_text in html
    assert "Nothing was saved" in html
    assert "<script>" not in html  # only the static errors.js, no inline script
    return html


@pytest.mark.django_db
def test_an_oversized_form_on_a_page_gets_a_clear_413_page(small_limit, client, user):
    client.force_login(user)

    response = client.post(reverse("skill-create"), {"text": BIG})

    html = _assert_page(response, limit_text="0.0 MB per request")
    assert "What you sent is 0.0 MB" in html
    assert f'href="{reverse("skill-create")}"' in html
    assert not Skill.objects.exists()


@pytest.mark.django_db
def test_an_oversized_admin_post_gets_the_page_too(small_limit, admin_client):
    response = admin_client.post(
        reverse("admin:proxy_apikey_add"), {"owner": "1", "name": BIG}
    )

    _assert_page(response, limit_text="per request")


@pytest.mark.django_db
def test_a_page_field_over_django_s_memory_cap_gets_the_page(settings, user):
    """The import page reads its form inside the view (after its own size guard):
    Django's RequestDataTooBig there becomes the same page, not a bare 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    client = Client()
    client.force_login(user)
    upload = SimpleUploadedFile("s.md", b"---\nname: x\n---\n")

    response = client.post(
        reverse("skill-import"), {"file": upload, "note": "n" * 5_000}
    )

    html = _assert_page(response, limit_text="per request")
    assert "What you sent is over the limit" in html
    assert not Skill.objects.exists()


# -- the async stack (a live ASGI server) -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_oversized_chat_bodies_are_413_declared_or_chunked(
    settings, asgi_server, http_client, upstream, user
):
    """The chat path's own limit, from Content-Length and, without one, while reading;
    the upstream never sees either request."""
    # given
    settings.AUTOSKILL_PROXY_MAX_BODY_BYTES = 2_048
    headers = {
        "Authorization": f"Bearer {api_key_create(owner=user).secret}",
        "Content-Type": "application/json",
    }
    body = json.dumps(
        {"model": "fake-chat", "messages": [{"role": "user", "content": BIG}]}
    ).encode()
    url = f"{asgi_server.url}/v1/chat/completions"
    # when
    declared = http_client.post(url, content=body, headers=headers)
    chunked = http_client.post(
        url, content=iter([body[:1000], body[1000:]]), headers=headers
    )
    # then
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "request_too_large"
        assert "AUTOSKILL_PROXY_MAX_BODY_BYTES" in error["message"]
    assert "transfer-encoding" in {k.lower() for k in chunked.request.headers}
    assert upstream.requests_to(CHAT) == []


@pytest.mark.django_db(transaction=True)
def test_the_async_stack_refuses_oversized_api_bodies_and_pages_alike(
    settings, asgi_server, http_client, user
):
    settings.AUTOSKILL_MAX_REQUEST_BYTES = LIMIT
    secret = api_key_create(owner=user).secret

    api = http_client.post(
        f"{asgi_server.url}/v1/autoskill/conversations/import",
        content=json.dumps({"conversations": [], "hint": BIG}).encode(),
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
        },
    )
    page = http_client.post(
        f"{asgi_server.url}/login/", data={"username": BIG, "password": "x"}
    )

    assert api.status_code == 413
    assert api.json()["error"]["code"] == "payload_too_large"
    assert page.status_code == 413
    assert "This request is too large" in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert not ExtractionJob.objects.exists()
