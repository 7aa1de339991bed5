"""The browser pages: login, chat screen, session export, CSP, logout."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from proxy.chat_sessions import chat_message_append, chat_session_create
from proxy.models import ChatRole
from proxy.pages import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password-42"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password=PASSWORD)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def _session_with_turn(user, *, title: str):
    session = chat_session_create(user=user, title=title)
    chat_message_append(session=session, role=ChatRole.USER, content="How do I *x*?")
    chat_message_append(
        session=session,
        role=ChatRole.ASSISTANT,
        content="<script>alert(1)</script> Use **y**.",
        trace={
            "retrieval": {
                "original_query": "How do I x?",
                "rewritten_query": "x procedure",
                "rewritten": True,
                "rewrite_reason": "",
                "scope": "all",
                "why": "1 of 1 hits fit the context",
                "hits": [
                    {
                        "id": "s1",
                        "name": "x-skill",
                        "title": "Doing X",
                        "version": "0.1.2",
                        "source": "user",
                        "score": 0.8123,
                        "injected": True,
                    }
                ],
            },
            "extraction": {"job_id": "job-77", "status": "queued"},
        },
    )
    return session


def _inline_scripts(html: str) -> list[str]:
    tags = re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
    return [tag for tag in tags if "src=" not in tag]


def test_login_page_renders_with_csrf_and_csp(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="username"' in html and 'name="password"' in html
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_login_with_password_lands_on_chat(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("chat")


def test_wrong_password_shows_error_and_stays_anonymous(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "no"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_anonymous_chat_redirects_to_login(client):
    response = client.get(reverse("chat"))

    assert response.status_code == 302
    assert response.headers["Location"] == f"{reverse('login')}?next=/chat/"


def test_anonymous_export_redirects_to_login(client, alice):
    session = chat_session_create(user=alice)

    response = client.get(reverse("chat-export", args=[session.pk]))

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))


def test_home_anonymous_renders_and_logged_in_redirects(client, alice):
    assert client.get("/").status_code == 200

    client.force_login(alice)
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("chat")


def test_chat_lists_only_the_users_sessions(alice_client, alice, bob):
    _session_with_turn(alice, title="Alice plans")
    _session_with_turn(bob, title="Bob secrets")

    response = alice_client.get(reverse("chat"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alice plans" in html
    assert "Bob secrets" not in html
    assert 'id="composer"' in html and 'name="csrfmiddlewaretoken"' in html
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_chat_session_page_loads_conversation_and_turn_panel(alice_client, alice):
    session = _session_with_turn(alice, title="Alice plans")

    response = alice_client.get(reverse("chat-session", args=[session.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-session-id="{session.pk}"' in html
    # The reply is escaped text for the JS renderer, never live markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Use **y**." in html
    assert "<script>alert(1)</script>" not in html
    assert "x procedure" in html and "Doing X" in html and "0.8123" in html
    assert 'data-job-id="job-77"' in html
    assert reverse("chat-export", args=[session.pk]) in html


def test_other_users_session_is_404(alice_client, bob):
    foreign = _session_with_turn(bob, title="Bob secrets")

    assert (
        alice_client.get(reverse("chat-session", args=[foreign.pk])).status_code == 404
    )
    assert (
        alice_client.get(reverse("chat-session", args=["not-a-uuid"])).status_code
        == 404
    )


def test_export_downloads_session_json_for_owner(alice_client, alice):
    session = _session_with_turn(alice, title="Alice plans")

    response = alice_client.get(reverse("chat-export", args=[session.pk]))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert (
        response.headers["Content-Disposition"]
        == f'attachment; filename="chat-{session.pk}.json"'
    )
    document = json.loads(response.content)
    assert document["object"] == "autoskill.chat_session"
    assert document["session"]["id"] == str(session.pk)
    assert [m["role"] for m in document["messages"]] == ["user", "assistant"]
    assert document["messages"][1]["trace"]["extraction"]["job_id"] == "job-77"


def test_export_of_other_users_session_is_404(alice_client, bob):
    foreign = _session_with_turn(bob, title="Bob secrets")

    response = alice_client.get(reverse("chat-export", args=[foreign.pk]))

    assert response.status_code == 404
    assert b"Bob secrets" not in response.content


@pytest.mark.parametrize("name", ["login", "home", "chat"])
def test_pages_have_no_inline_scripts_or_styles(client, alice, name):
    if name == "chat":
        client.force_login(alice)
        _session_with_turn(alice, title="Alice plans")
    html = client.get(reverse(name)).content.decode()

    assert _inline_scripts(html) == []
    assert not re.search(r"<style\b", html, flags=re.IGNORECASE)
    assert not re.search(r"\sstyle=", html, flags=re.IGNORECASE)
    assert not re.search(r"\son[a-z]+=", html, flags=re.IGNORECASE)


def test_chat_page_loads_its_scripts_from_static(alice_client):
    html = alice_client.get(reverse("chat")).content.decode()

    sources = re.findall(r'<script src="([^"]+)"', html)
    assert [s.rsplit("/", 1)[-1] for s in sources] == [
        "markdown.js",
        "chat_panel.js",
        "chat.js",
    ]


def test_logout_requires_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("logout")).status_code == 405

    response = alice_client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("login")
    assert alice_client.get(reverse("chat")).status_code == 302
