"""Choosing and building the chat client from settings (providers/llm_config.py)."""

from __future__ import annotations

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured

from autoskill_site.providers.anthropic_chat import AnthropicLLM
from autoskill_site.providers.llm import LLMPurpose
from autoskill_site.providers.llm_config import (
    ALIASES,
    describe_llm,
    llm_cache_clear,
    llm_from_settings,
    normalise_provider,
    pick_provider,
    resolve_llm_config,
)
from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from tests.fakes.openai_server import ANTHROPIC, CHAT

USER = [{"role": "user", "content": "hi"}]
GLM_SECRET = "glm-secret-0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def clean(settings):
    """No provider pinned, no overrides, no vendor variables; cached clients closed."""
    settings.AUTOSKILL_LLM_PROVIDER = ""
    for name in ("MODEL", "BASE_URL", "API_KEY", "AUTH_MODE", "EXTRA_BODY"):
        setattr(settings, f"AUTOSKILL_LLM_{name}", "")
    settings.AUTOSKILL_EXTRACTION_LLM_MODEL = ""
    settings.AUTOSKILL_LLM_TIMEOUT = 5
    settings.AUTOSKILL_LLM_RETRIES = 0
    settings.AUTOSKILL_LLM_MAX_TOKENS = 0
    settings.AUTOSKILL_LLM_ENV = {}
    yield settings
    llm_cache_clear()


def use_env(settings, **values: str) -> None:
    settings.AUTOSKILL_LLM_ENV = dict(values)


class TestProviderChoice:
    def test_auto_pick_follows_the_original_order(self) -> None:
        """With every vendor present, each is chosen once those before it are gone."""
        # given
        env = {
            "AUTOSKILL_GENERIC_LLM_URL": "http://127.0.0.1:9/v1",
            "DASHSCOPE_API_KEY": "d",
            "BIGMODEL_API_KEY": "g",
            "INTERN_API_KEY": "i",
            "OPENAI_API_KEY": "o",
            "ANTHROPIC_API_KEY": "a",
        }
        picked = []
        # when
        for name in list(env):
            picked.append(pick_provider(env))
            env.pop(name)
        picked.append(pick_provider(env))
        # then
        assert picked == [
            "generic",
            "dashscope",
            "glm",
            "internlm",
            "openai",
            "anthropic",
            "offline",
        ]

    def test_auto_pick_applies_when_no_provider_is_set(self, settings) -> None:
        """An empty AUTOSKILL_LLM_PROVIDER resolves through the vendor variables."""
        use_env(settings, ANTHROPIC_API_KEY="a", INTERNLM_API_KEY="i")
        with pytest.raises(ImproperlyConfigured, match="The internlm LLM provider"):
            resolve_llm_config()

    def test_zhipuai_key_also_picks_glm(self, settings) -> None:
        use_env(settings, ZHIPUAI_API_KEY="z", OPENAI_API_KEY="o")
        with pytest.raises(ImproperlyConfigured, match="The glm LLM provider"):
            resolve_llm_config()

    def test_nothing_configured_is_offline(self) -> None:
        assert resolve_llm_config().provider == "offline"
        assert describe_llm() == {
            "provider": "offline",
            "model": "offline-heuristic",
            "base_url": "",
        }

    @pytest.mark.parametrize(
        ("alias", "provider"),
        [
            ("mock", "offline"),
            ("qwen", "dashscope"),
            ("bigmodel", "glm"),
            ("zhipu", "glm"),
            ("intern", "internlm"),
            ("intern-s1", "internlm"),
            ("Intern-S1-Pro", "internlm"),
            ("universal", "generic"),
            ("custom", "generic"),
            ("openai-compatible", "generic"),
            ("openai_compatible", "generic"),
            (" OpenAI ", "openai"),
        ],
    )
    def test_aliases(self, alias, provider) -> None:
        assert normalise_provider(alias) == provider

    def test_unknown_provider_lists_the_valid_names(self, settings) -> None:
        settings.AUTOSKILL_LLM_PROVIDER = "cohere"
        with pytest.raises(ImproperlyConfigured) as info:
            llm_from_settings()
        message = str(info.value)
        assert "'cohere'" in message
        for name in ("offline", "openai", "generic", "dashscope", "glm", "anthropic"):
            assert name in message
        assert all(alias in message for alias in ALIASES)


class TestMissingConfiguration:
    @pytest.mark.parametrize(
        ("provider", "env", "variable"),
        [
            ("openai", {"OPENAI_API_KEY": "k"}, "OPENAI_BASE_URL"),
            ("dashscope", {"DASHSCOPE_API_KEY": "k"}, "DASHSCOPE_BASE_URL"),
            ("glm", {"BIGMODEL_API_KEY": "k"}, "BIGMODEL_BASE_URL"),
            ("internlm", {"INTERNLM_TOKEN": "k"}, "INTERNLM_BASE_URL"),
            ("anthropic", {"ANTHROPIC_API_KEY": "k"}, "ANTHROPIC_BASE_URL"),
            ("generic", {}, "AUTOSKILL_GENERIC_LLM_URL"),
        ],
    )
    def test_missing_base_url_names_the_variable(
        self, settings, provider, env, variable
    ) -> None:
        """No vendor endpoint is assumed for any provider."""
        settings.AUTOSKILL_LLM_PROVIDER = provider
        use_env(settings, **env)
        with pytest.raises(ImproperlyConfigured, match=variable) as info:
            llm_from_settings()
        assert "AUTOSKILL_LLM_BASE_URL" in str(info.value)

    @pytest.mark.parametrize(
        ("provider", "missing", "variable"),
        [
            ("openai", "MODEL", "OPENAI_CHAT_MODEL"),
            ("dashscope", "MODEL", "DASHSCOPE_MODEL"),
            ("glm", "MODEL", "BIGMODEL_GLM_MODEL"),
            ("internlm", "MODEL", "INTERNLM_MODEL"),
            ("anthropic", "MODEL", "ANTHROPIC_MODEL"),
            ("generic", "MODEL", "AUTOSKILL_GENERIC_LLM_MODEL"),
            ("openai", "API_KEY", "OPENAI_API_KEY"),
            ("dashscope", "API_KEY", "DASHSCOPE_API_KEY"),
            ("glm", "API_KEY", "ZHIPUAI_API_KEY / BIGMODEL_API_KEY"),
            (
                "internlm",
                "API_KEY",
                "INTERNLM_API_KEY / INTERN_API_KEY / INTERNLM_TOKEN",
            ),
            ("anthropic", "API_KEY", "ANTHROPIC_API_KEY"),
        ],
    )
    def test_missing_model_or_key_names_the_variable(
        self, settings, provider, missing, variable
    ) -> None:
        """With everything else set, the one missing value is named by its variables."""
        settings.AUTOSKILL_LLM_PROVIDER = provider
        given = {"BASE_URL": "http://127.0.0.1:9/v1", "MODEL": "m", "API_KEY": "k"}
        for name, value in given.items():
            if name != missing:
                setattr(settings, f"AUTOSKILL_LLM_{name}", value)
        with pytest.raises(ImproperlyConfigured, match=variable):
            llm_from_settings()

    @pytest.mark.parametrize(
        ("name", "value", "variable"),
        [
            ("AUTOSKILL_LLM_EXTRA_BODY", "{not json", "AUTOSKILL_LLM_EXTRA_BODY"),
            ("AUTOSKILL_LLM_EXTRA_BODY", "[1, 2]", "AUTOSKILL_LLM_EXTRA_BODY"),
            ("AUTOSKILL_LLM_AUTH_MODE", "oauth", "AUTOSKILL_LLM_AUTH_MODE"),
            ("AUTOSKILL_LLM_BASE_URL", "ftp://host/v1", "AUTOSKILL_LLM_BASE_URL"),
        ],
    )
    def test_bad_values_name_the_variable(
        self, settings, name, value, variable
    ) -> None:
        settings.AUTOSKILL_LLM_PROVIDER = "generic"
        settings.AUTOSKILL_LLM_BASE_URL = "http://127.0.0.1:9/v1"
        settings.AUTOSKILL_LLM_MODEL = "m"
        setattr(settings, name, value)
        with pytest.raises(ImproperlyConfigured, match=variable):
            llm_from_settings()

    def test_describe_reports_errors_instead_of_raising(self, settings) -> None:
        settings.AUTOSKILL_LLM_PROVIDER = "openai"
        described = describe_llm()
        assert "OPENAI_BASE_URL" in described["error"]


class TestResolution:
    def test_overrides_win_over_vendor_variables(self, settings) -> None:
        use_env(
            settings,
            OPENAI_API_KEY="vendor-key",
            OPENAI_BASE_URL="http://vendor.example/v1",
            OPENAI_CHAT_MODEL="vendor-model",
        )
        settings.AUTOSKILL_LLM_MODEL = "our-model"
        settings.AUTOSKILL_LLM_BASE_URL = "http://ours.example/v1"
        settings.AUTOSKILL_LLM_API_KEY = "our-key"
        config = resolve_llm_config()
        assert (config.provider, config.model, config.base_url, config.api_key) == (
            "openai",
            "our-model",
            "http://ours.example/v1",
            "our-key",
        )
        assert "our-key" not in repr(config)

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("http://10.0.0.5:8000", "http://10.0.0.5:8000/v1"),
            (
                "https://h.example/compatible-mode",
                "https://h.example/compatible-mode/v1",
            ),
            ("http://h.example/v1/chat/completions", "http://h.example/v1"),
            ("https://h.example/api/paas/v4/", "https://h.example/api/paas/v4"),
        ],
    )
    def test_base_url_styles_of_the_original(self, settings, given, expected) -> None:
        use_env(
            settings, AUTOSKILL_GENERIC_LLM_URL=given, AUTOSKILL_GENERIC_LLM_MODEL="m"
        )
        assert resolve_llm_config().base_url == expected

    def test_describe_hides_url_credentials(self, settings) -> None:
        use_env(
            settings,
            AUTOSKILL_GENERIC_LLM_URL="http://user:pa55@llm.internal:8000/v1",
            AUTOSKILL_GENERIC_LLM_MODEL="qwen3",
        )
        assert describe_llm() == {
            "provider": "generic",
            "model": "qwen3",
            "base_url": "http://llm.internal:8000/v1",
        }

    @pytest.mark.parametrize("purpose", ["extraction", "rewrite", "selection", "audit"])
    def test_background_purposes_use_the_extraction_model(
        self, settings, purpose
    ) -> None:
        use_env(
            settings,
            AUTOSKILL_GENERIC_LLM_URL="http://h/v1",
            AUTOSKILL_GENERIC_LLM_MODEL="big",
        )
        settings.AUTOSKILL_EXTRACTION_LLM_MODEL = "small"
        assert resolve_llm_config(purpose).model == "small"
        assert resolve_llm_config(LLMPurpose.CHAT).model == "big"

    def test_background_purposes_fall_back_to_the_chat_model(self, settings) -> None:
        use_env(
            settings,
            AUTOSKILL_GENERIC_LLM_URL="http://h/v1",
            AUTOSKILL_GENERIC_LLM_MODEL="big",
        )
        assert resolve_llm_config("extraction").model == "big"

    def test_unknown_purpose_is_an_error(self) -> None:
        with pytest.raises(ValueError):
            resolve_llm_config("chitchat")


class TestBuiltClients:
    def test_generic_client_talks_to_the_configured_server(
        self, settings, fake_openai
    ) -> None:
        """Purpose picks the default model; same config -> same cached client."""
        # given
        use_env(
            settings,
            AUTOSKILL_GENERIC_LLM_URL=fake_openai.base_url,
            AUTOSKILL_GENERIC_LLM_MODEL="chat-model",
        )
        settings.AUTOSKILL_EXTRACTION_LLM_MODEL = "extract-model"
        settings.AUTOSKILL_LLM_EXTRA_BODY = '{"top_k": 3}'
        # when
        chat = llm_from_settings()
        extraction = llm_from_settings(LLMPurpose.EXTRACTION)
        chat.complete(USER)
        extraction.complete(USER)
        # then
        assert isinstance(chat, OpenAICompatibleLLM) and chat.provider == "generic"
        assert llm_from_settings("chat") is chat
        assert (chat.model, extraction.model) == ("chat-model", "extract-model")
        first, second = fake_openai.requests_to(CHAT)
        assert (first.json["model"], second.json["model"]) == (
            "chat-model",
            "extract-model",
        )
        assert first.json["top_k"] == 3
        assert "authorization" not in first.headers  # the generic key is optional

    def test_explicit_provider_and_model(self, settings, fake_openai) -> None:
        """The import commands' --llm-provider/--llm-model flags map to these kwargs."""
        settings.AUTOSKILL_LLM_PROVIDER = "offline"
        use_env(
            settings,
            DASHSCOPE_API_KEY="dash-key",
            DASHSCOPE_BASE_URL=fake_openai.base_url,
        )
        llm = llm_from_settings(provider="qwen", model="qwen-max")
        llm.complete(USER)
        request = fake_openai.requests_to(CHAT)[0]
        assert (llm.provider, request.json["model"]) == ("dashscope", "qwen-max")
        assert request.headers["authorization"] == "Bearer dash-key"

    def test_glm_signs_a_jwt_and_merges_extra_bodies(
        self, settings, fake_openai
    ) -> None:
        use_env(
            settings,
            ZHIPUAI_API_KEY=f"kid.{GLM_SECRET}",
            BIGMODEL_BASE_URL=fake_openai.base_url,
            BIGMODEL_GLM_MODEL="glm-test",
            BIGMODEL_TOKEN_TIME_UNIT="s",
            BIGMODEL_LLM_EXTRA_BODY='{"do_sample": false, "top_p": 0.5}',
        )
        settings.AUTOSKILL_LLM_EXTRA_BODY = '{"top_p": 0.9}'
        llm_from_settings().complete(USER)
        request = fake_openai.requests_to(CHAT)[0]
        token = request.headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(
            token, GLM_SECRET, algorithms=["HS256"], options={"verify_exp": False}
        )
        assert claims["api_key"] == "kid"
        assert claims["exp"] - claims["timestamp"] == 3600  # seconds, as configured
        assert (request.json["do_sample"], request.json["top_p"]) == (False, 0.9)

    def test_glm_api_key_mode(self, settings, fake_openai) -> None:
        key = f"kid.{GLM_SECRET}"
        use_env(
            settings,
            BIGMODEL_API_KEY=key,
            BIGMODEL_BASE_URL=fake_openai.base_url,
            BIGMODEL_GLM_MODEL="glm-test",
            BIGMODEL_AUTH_MODE="api_key",
        )
        llm_from_settings().complete(USER)
        assert (
            fake_openai.requests_to(CHAT)[0].headers["authorization"] == f"Bearer {key}"
        )

    @pytest.mark.parametrize(("raw", "sent"), [("", True), ("1", True), ("0", False)])
    def test_internlm_thinking_mode(self, settings, fake_openai, raw, sent) -> None:
        use_env(
            settings,
            INTERNLM_API_KEY="ik",
            INTERNLM_BASE_URL=fake_openai.base_url,
            INTERNLM_MODEL="intern-test",
            INTERNLM_THINKING_MODE=raw,
            INTERNLM_LLM_EXTRA_BODY='{"top_k": 1}',
        )
        llm_from_settings().complete(USER)
        body = fake_openai.requests_to(CHAT)[0].json
        assert body["thinking_mode"] is sent and body["top_k"] == 1

    def test_anthropic_client(self, settings, fake_openai) -> None:
        use_env(
            settings,
            ANTHROPIC_API_KEY="ak-secret-value",
            ANTHROPIC_BASE_URL=f"http://127.0.0.1:{fake_openai.port}",
            ANTHROPIC_MODEL="claude-test",
        )
        settings.AUTOSKILL_LLM_MAX_TOKENS = 300
        llm = llm_from_settings()
        assert isinstance(llm, AnthropicLLM)
        assert llm.complete(USER).text == fake_openai.chat_text
        assert fake_openai.requests_to(ANTHROPIC)[0].json["max_tokens"] == 300

    def test_settings_change_builds_a_new_client(self, settings, fake_openai) -> None:
        use_env(
            settings,
            AUTOSKILL_GENERIC_LLM_URL=fake_openai.base_url,
            AUTOSKILL_GENERIC_LLM_MODEL="a",
        )
        first = llm_from_settings()
        settings.AUTOSKILL_LLM_MODEL = "b"
        second = llm_from_settings()
        assert first is not second and second.model == "b"


class TestOffline:
    def test_offline_provider_is_the_heuristic_client(self, settings) -> None:
        """`offline` (and `mock`) build OfflineLLM from providers/offline.py."""
        from autoskill_site.providers.offline import OfflineLLM

        settings.AUTOSKILL_LLM_PROVIDER = "mock"
        llm = llm_from_settings()
        assert isinstance(llm, OfflineLLM)
        assert (llm.provider, llm.model, llm.offline) == (
            "offline",
            "offline-heuristic",
            True,
        )
        assert llm_from_settings(provider="offline") is llm
