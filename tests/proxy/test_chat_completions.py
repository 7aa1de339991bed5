# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""POST /v1/chat/completions without streaming, through the official OpenAI SDK.

A live ASGI server runs the proxy in front of the fake upstream on loopback.
"""

from __future__ import annotations

import json

import openai
import pytest

from extraction.models import ExtractionJob
from proxy.auth import api_key_create
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT, Reply, Scripted
from tests.proxy.live_server import (  # noqa: F401 - fixtures
    alice_key,
    asgi_server,
    http_client,
    openai_client,
    sdk_client,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _user_turn(text: str = "Please write the release notes for 2.0") -> list[dict]:
    return [{"role": "user", "content": text}]


def test_reply_usage_and_autoskill_object(openai_client, upstream, user):
    """The upstream's answer and real usage come back, with the retrieval summary."""
    # given
    skill = make_skill(owner=user, title="Release notes writer")
    upstream.reply_chat("Here are your notes.")
    # when
    raw = openai_client.chat.completions.with_raw_response.create(
        model="fake-chat", messages=_user_turn()
    )
    completion = raw.parse()
    # then
    assert completion.choices[0].message.content == "Here are your notes."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 1 + len("Here are your notes.".split())
    autoskill = completion.model_extra["autoskill"]
    hits = autoskill["retrieval"]["hits"]
    assert [h["id"] for h in hits] == [str(skill.pk)]
    assert autoskill["retrieval"]["injected_ids"] == [str(skill.pk)]
    assert autoskill["extraction"] == {"job_id": None, "status": "disabled"}
    assert float(raw.headers["x-autoskill-overhead-ms"]) >= 0


def test_skill_injected_and_every_message_and_field_forwarded(
    openai_client, upstream, user
):
    """One system message with the skill follows the caller's; nothing else changes."""
    # given
    make_skill(
        owner=user,
        title="Release notes writer",
        instructions="Always add a migration section.",
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Look up the release."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "v2.0 shipped"},
        {"role": "user", "content": "Now write the release notes"},
    ]
    # when
    openai_client.chat.completions.create(
        model="fake-chat",
        messages=messages,
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_object"},
        n=1,
        seed=7,
        temperature=0.3,
        extra_body={"vendor_knob": {"deep": [1, 2]}, "autoskill_scope": "user"},
    )
    # then
    sent = upstream.requests_to(CHAT)[-1].json
    assert sent["messages"][0] == messages[0]
    injected = sent["messages"][1]
    assert injected["role"] == "system"
    assert "Release notes writer" in injected["content"]
    assert "Always add a migration section." in injected["content"]
    assert sent["messages"][2:] == messages[1:]
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert sent["response_format"] == {"type": "json_object"}
    assert (sent["n"], sent["seed"], sent["temperature"]) == (1, 7, 0.3)
    assert sent["vendor_knob"] == {"deep": [1, 2]}
    assert "autoskill_scope" not in sent  # the proxy's own option stays here


def test_parallel_tool_calls_come_back_intact(openai_client, upstream, user):
    """A reply with two tool calls keeps their ids, names and arguments."""
    # given
    calls = [
        {
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps({"city": city})},
        }
        for n, (name, city) in enumerate([("weather", "Oslo"), ("time", "Lima")])
    ]

    def answer(request, scripted):
        return Reply(
            body={
                "id": "chatcmpl-tools",
                "object": "chat.completion",
                "created": 1,
                "model": "fake-chat",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls",
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": calls,
                        },
                    }
                ],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": 9,
                    "total_tokens": 14,
                },
            }
        )

    upstream.route(CHAT, answer)
    # when
    completion = openai_client.chat.completions.create(
        model="fake-chat",
        messages=_user_turn("weather in Oslo and time in Lima?"),
        tools=[{"type": "function", "function": {"name": "weather"}}],
    )
    # then
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls
    ] == [
        ("call_0", "weather", {"city": "Oslo"}),
        ("call_1", "time", {"city": "Lima"}),
    ]
    assert completion.usage.total_tokens == 14


def test_upstream_500_is_an_error_not_assistant_text(openai_client, upstream):
    """A failing upstream gives a 502 in the OpenAI envelope."""
    # given
    upstream.fail(CHAT, 500, "model crashed")
    # when
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(model="fake-chat", messages=_user_turn())
    # then
    assert caught.value.status_code == 502
    error = caught.value.body
    assert error["code"] == "upstream_error" and error["type"] == "server_error"
    assert "model crashed" in error["message"] and "500" in error["message"]


def test_upstream_client_error_is_relayed(openai_client, upstream):
    """An upstream 400 about the request reaches the client as that 400."""
    upstream.fail(CHAT, 400, "temperature is out of range")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="fake-chat", messages=_user_turn())
    assert caught.value.body["message"] == "temperature is out of range"


def test_upstream_timeout_is_a_504(openai_client, upstream, settings):
    """No answer within AUTOSKILL_LLM_TIMEOUT: 504 upstream_timeout."""
    # given
    settings.AUTOSKILL_LLM_TIMEOUT = 0.3
    upstream.enqueue(CHAT, Scripted(text="too late", delay=3))
    # when
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(model="fake-chat", messages=_user_turn())
    # then
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "upstream_timeout"


def test_bad_api_key_is_a_401_envelope(asgi_server, upstream, db):
    client = sdk_client(asgi_server, "ask_wrong_key")
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="fake-chat", messages=_user_turn())
    finally:
        client.close()
    assert caught.value.body["code"] == "invalid_api_key"
    assert upstream.requests_to(CHAT) == []


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": []}, "messages", "invalid_value"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
        ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model", "invalid_type"),
        ({"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}, "stream", "invalid_type"),
        ({"model": "m", "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "x"}]}, "stream_options", "invalid_value"),
        ({"model": "m", "n": 0, "messages": [{"role": "user", "content": "x"}]}, "n", "invalid_value"),
        ({"model": "m", "autoskill_scope": "galaxy", "messages": [{"role": "user", "content": "x"}]}, "autoskill_scope", "invalid_value"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_param(
    asgi_server, http_client, alice_key, upstream, body, param, code
):
    response = http_client.post(
        f"{asgi_server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {alice_key}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert error["code"] == code
    assert upstream.requests_to(CHAT) == []


def test_invalid_json_and_wrong_method(asgi_server, http_client, alice_key, upstream):
    url = f"{asgi_server.url}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {alice_key}"}
    broken = http_client.post(url, content=b"{not json", headers=headers)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"
    wrong = http_client.get(url, headers=headers)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "invalid_request_error"


def test_model_outside_the_served_catalog_is_404(openai_client, upstream, settings):
    settings.AUTOSKILL_PROXY_MODELS = ["fake-chat"]
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model="gpt-9", messages=_user_turn())
    assert caught.value.body["code"] == "model_not_found"
    assert caught.value.body["param"] == "model"


def test_learning_only_for_feedback_windows_and_once_per_window(
    openai_client, upstream, user
):
    """A first turn schedules nothing; a reply to an answer queues one job, once."""
    # given
    upstream.reply_chat("First answer.", "Noted.", "Noted.")
    # when: a first turn
    first = openai_client.chat.completions.create(
        model="fake-chat", messages=_user_turn("Draft the release notes")
    )
    # then
    assert first.model_extra["autoskill"]["extraction"]["status"] == "disabled"
    assert not ExtractionJob.objects.filter(user=user).exists()
    # when: the user reacts to an answer
    feedback = [
        {"role": "user", "content": "Draft the release notes"},
        {"role": "assistant", "content": "First answer."},
        {
            "role": "user",
            "content": "From now on always list breaking changes first, no emojis.",
        },
    ]
    second = openai_client.chat.completions.create(model="fake-chat", messages=feedback)
    again = openai_client.chat.completions.create(model="fake-chat", messages=feedback)
    # then
    job = ExtractionJob.objects.get(user=user)
    extraction = second.model_extra["autoskill"]["extraction"]
    assert extraction["job_id"] == str(job.pk) and extraction["status"] == "scheduled"
    assert job.window[-1]["content"].startswith("From now on")  # the user's reaction
    assert again.model_extra["autoskill"]["extraction"]["job_id"] == str(job.pk)
    assert job.source["channel"] == "proxy_chat_completion"


def test_another_users_skills_are_never_injected(
    asgi_server, openai_client, upstream, user, other_user
):
    """alice's key retrieves nothing of bob's, whatever she asks or claims."""
    # given
    bobs = make_skill(owner=other_user, title="Release notes writer")
    # when: alice asks, also naming bob as the acting user (ignored: not a service key)
    openai_client.chat.completions.create(
        model="fake-chat",
        messages=_user_turn(),
        user="bob",
        extra_headers={"X-AutoSkill-User": "bob", "X-AutoSkill-Scope": "all"},
    )
    # then
    sent = upstream.requests_to(CHAT)[-1].json
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert str(bobs.pk) not in json.dumps(sent)
    # and bob's own key does get it
    bob = sdk_client(asgi_server, api_key_create(owner=other_user).secret)
    try:
        reply = bob.chat.completions.create(model="fake-chat", messages=_user_turn())
    finally:
        bob.close()
    assert reply.model_extra["autoskill"]["retrieval"]["injected_ids"] == [str(bobs.pk)]


def test_service_key_acts_for_a_sub_user(asgi_server, upstream, user):
    """A trusted service key's `user` field selects a namespaced sub-user's skills."""
    # given
    service = api_key_create(owner=user, can_act_for_users=True).secret
    client = sdk_client(asgi_server, service)
    try:
        # when: a sub-user answers a turn, learning goes to that sub-user
        client.chat.completions.create(
            model="fake-chat",
            user="case-17",
            messages=[
                {"role": "user", "content": "Write notes"},
                {"role": "assistant", "content": "Done."},
                {"role": "user", "content": "Always put the summary first."},
            ],
        )
    finally:
        client.close()
    # then
    job = ExtractionJob.objects.get()
    assert job.user.parent_id == user.pk and job.user.external_id == "case-17"


def test_offline_provider_answers_and_refuses_tools(settings, openai_client):
    """Without a model the built-in provider answers, labelled; tools are a clear 400."""
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    settings.AUTOSKILL_REWRITE_MODE = "never"
    completion = openai_client.chat.completions.create(
        model="anything", messages=_user_turn("hello")
    )
    assert completion.choices[0].message.content.startswith("[offline provider]")
    assert completion.usage.total_tokens == 0
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="anything",
            messages=_user_turn("hello"),
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    assert caught.value.body["param"] == "tools"
