"""A real OpenAI-compatible client pointed at the loopback fake server, for extraction tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from tests.fakes.openai_server import CHAT, FakeOpenAIServer


@pytest.fixture
def llm(fake_openai: FakeOpenAIServer) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        base_url=fake_openai.base_url,
        model="fake-extractor",
        provider="generic",
        timeout=5.0,
        retries=2,
        backoff=0.001,
        max_backoff=0.002,
    )


def reply_json(server: FakeOpenAIServer, *answers: Any) -> None:
    """Queue chat answers; dicts/lists are sent as JSON text."""
    server.reply_chat(*[a if isinstance(a, str) else json.dumps(a) for a in answers])


def sent_messages(server: FakeOpenAIServer) -> list[list[dict[str, Any]]]:
    return [r.json["messages"] for r in server.requests_to(CHAT)]


RELEASE_SKILL = {
    "name": "release-rollout-process",
    "description": "Runs a release through regression, canary, monitoring and full rollout.",
    "instructions": (
        "# Goal\nShip a release safely.\n\n# Constraints & Style\n- Never skip the canary.\n\n"
        "# Workflow\n1. Run the regression suite\n2. Canary\n3. Monitor\n4. Full rollout"
    ),
    "triggers": ["release process", "ship a release", "rollout steps"],
    "tags": ["release", "deployment"],
    "confidence": 0.8,
}
