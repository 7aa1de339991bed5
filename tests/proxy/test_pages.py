"""The browser pages: login, chat screen, session export, CSP, logout."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from proxy.chat_sessions import chat_message_append, chat_session_create
from proxy.models import CHAT_MAX_TOP_K, ChatRole
from proxy.pages import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password-42"
HIT_ID = "3f0c2a9e-5b1d-4c7e-9a8f-0d1e2f3a4b5c"


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
                        "id": HIT_ID,
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
        "errors.js",
        "markdown.js",
        "chat_panel.js",
        "chat.js",
        "chat_settings.js",
    ]


def test_logout_requires_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("logout")).status_code == 405

    response = alice_client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("login")
    assert alice_client.get(reverse("chat")).status_code == 302


def _control(html: str, name: str) -> str:
    """The opening tag of the settings control `name`, or of its <select> with options."""
    select = re.search(rf'<select id="setting-{name}".*?</select>', html, flags=re.S)
    if select:
        return select.group(0)
    found = re.search(rf'<input id="setting-{name}"[^>]*>', html)
    assert found, f"no control for {name}"
    return found.group(0)


def _selected(html: str, name: str) -> list[str]:
    return re.findall(r'<option value="([^"]+)" selected>', _control(html, name))


def test_chat_settings_show_the_sessions_values(alice_client, alice):
    session = chat_session_create(
        user=alice,
        settings={
            "scope": "library",
            "top_k": 12,
            "min_score": 0.35,
            "rewrite_mode": "always",
            "extract_mode": "never",
            "extract_turn_limit": 4,
        },
    )

    html = alice_client.get(reverse("chat-session", args=[session.pk])).content.decode()

    assert "<summary>Retrieval &amp; learning</summary>" in html
    assert '<form id="chat-settings"' in html
    form = re.search(r'<form id="chat-settings".*?</form>', html, flags=re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in form
    assert _selected(html, "scope") == ["library"]
    assert _selected(html, "rewrite_mode") == ["always"]
    assert _selected(html, "extract_mode") == ["never"]
    top_k = _control(html, "top_k")
    assert 'value="12"' in top_k and f'max="{CHAT_MAX_TOP_K}"' in top_k
    assert 'value="0.35"' in _control(html, "min_score")
    every = _control(html, "extract_turn_limit")
    # Only auto mode counts turns, so the field is off under "never".
    assert 'value="4"' in every and " disabled" in every
    for name in ("scope", "top_k", "min_score", "rewrite_mode", "extract_mode"):
        assert f'<label for="setting-{name}">' in html
    assert re.search(r'<button type="button" id="extract-now"[^>]*>', html)
    assert " disabled" not in re.search(r'<button[^>]*id="extract-now"[^>]*>', html)[0]


def test_chat_settings_without_a_session_show_the_defaults(alice_client, settings):
    settings.AUTOSKILL_SKILL_SCOPE = "common"
    settings.AUTOSKILL_TOP_K = 7
    settings.AUTOSKILL_MIN_SCORE = 0.25
    settings.AUTOSKILL_EXTRACT_MODE = "auto"
    settings.AUTOSKILL_EXTRACT_TURN_LIMIT = 3

    html = alice_client.get(reverse("chat")).content.decode()

    assert _selected(html, "scope") == ["library"]  # `common` is the library
    assert 'value="7"' in _control(html, "top_k")
    assert 'value="0.25"' in _control(html, "min_score")
    every = _control(html, "extract_turn_limit")
    assert 'value="3"' in every and " disabled" not in every
    # Nothing to extract from before the first message.
    assert " disabled" in re.search(r'<button[^>]*id="extract-now"[^>]*>', html)[0]


def test_skill_links_point_to_the_skill_pages(alice_client, alice):
    session = _session_with_turn(alice, title="Alice plans")

    html = alice_client.get(reverse("chat-session", args=[session.pk])).content.decode()

    assert 'data-skill-url="/skills/"' in html
    assert f'<a href="/skills/{HIT_ID}/">Doing X</a>' in html
    assert "/admin/skills/" not in html
