"""Which chat model answers, decided once from settings.

`llm_from_settings()` is the only way the apps obtain an `LLMClient`. Settings are
read at call time; clients are cached per resolved configuration, so changed
settings (and tests using the `settings` fixture) get a fresh client.

No vendor URL or model is assumed: choosing a provider without its base URL or model
is a configuration error that names the variable to set.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from autoskill_site.providers.glm_auth import AUTH_MODES, TIME_UNITS, looks_like_glm_key
from autoskill_site.providers.llm import LLMClient, LLMPurpose

PROVIDERS = (
    "offline",
    "openai",
    "generic",
    "dashscope",
    "glm",
    "internlm",
    "anthropic",
)
ALIASES = {
    "mock": "offline",
    "qwen": "dashscope",
    "bigmodel": "glm",
    "zhipu": "glm",
    "intern": "internlm",
    "intern-s1": "internlm",
    "intern-s1-pro": "internlm",
    "universal": "generic",
    "custom": "generic",
    "openai-compatible": "generic",
    "openai_compatible": "generic",
}
# Background purposes may run on the cheaper AUTOSKILL_EXTRACTION_LLM_MODEL.
BACKGROUND_PURPOSES = frozenset(
    {LLMPurpose.EXTRACTION, LLMPurpose.REWRITE, LLMPurpose.SELECTION, LLMPurpose.AUDIT}
)


@dataclass(frozen=True)
class _Vendor:
    """Where each provider's original variables live (ref-server section 7)."""

    keys: tuple[str, ...]
    url: str
    model: str
    key_required: bool = True
    extra_body: str = ""


VENDORS = {
    "openai": _Vendor(("OPENAI_API_KEY",), "OPENAI_BASE_URL", "OPENAI_CHAT_MODEL"),
    "generic": _Vendor(
        ("AUTOSKILL_GENERIC_LLM_API_KEY", "AUTOSKILL_GENERIC_API_KEY"),
        "AUTOSKILL_GENERIC_LLM_URL",
        "AUTOSKILL_GENERIC_LLM_MODEL",
        key_required=False,
    ),
    "dashscope": _Vendor(
        ("DASHSCOPE_API_KEY",), "DASHSCOPE_BASE_URL", "DASHSCOPE_MODEL"
    ),
    "glm": _Vendor(
        ("ZHIPUAI_API_KEY", "BIGMODEL_API_KEY"),
        "BIGMODEL_BASE_URL",
        "BIGMODEL_GLM_MODEL",
        extra_body="BIGMODEL_LLM_EXTRA_BODY",
    ),
    "internlm": _Vendor(
        ("INTERNLM_API_KEY", "INTERN_API_KEY", "INTERNLM_TOKEN"),
        "INTERNLM_BASE_URL",
        "INTERNLM_MODEL",
        extra_body="INTERNLM_LLM_EXTRA_BODY",
    ),
    "anthropic": _Vendor(
        ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL"
    ),
}
# The original's pick_default_provider order.
AUTO_PICK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("generic", ("AUTOSKILL_GENERIC_LLM_URL",)),
    ("dashscope", ("DASHSCOPE_API_KEY",)),
    ("glm", ("ZHIPUAI_API_KEY", "BIGMODEL_API_KEY")),
    ("internlm", ("INTERNLM_API_KEY", "INTERN_API_KEY")),
    ("openai", ("OPENAI_API_KEY",)),
    ("anthropic", ("ANTHROPIC_API_KEY",)),
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class LLMConfig:
    """A resolved, hashable configuration; one client is built per distinct value."""

    provider: str
    model: str = ""
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    auth_mode: str = "api_key"
    jwt_time_unit: str = "ms"
    thinking_mode: bool | None = None
    extra_body: str = "{}"  # JSON text, so the dataclass stays hashable
    max_tokens: int = 0
    timeout: float = 60.0
    retries: int = 3


def normalise_provider(name: str) -> str:
    """The canonical provider for a name or alias; ImproperlyConfigured if unknown."""
    value = name.strip().lower()
    value = ALIASES.get(value, value)
    if value not in PROVIDERS:
        names = ", ".join([*PROVIDERS, *sorted(ALIASES)])
        raise ImproperlyConfigured(
            f"LLM provider {name!r} is unknown (AUTOSKILL_LLM_PROVIDER); use one of: {names}."
        )
    return value


def _env(settings: Any) -> dict[str, str]:
    raw = getattr(settings, "AUTOSKILL_LLM_ENV", None) or {}
    return {str(k): str(v).strip() for k, v in dict(raw).items() if v is not None}


def _setting(settings: Any, name: str, default: Any = "") -> Any:
    value = getattr(settings, name, default)
    return default if value is None else value


def _first(env: dict[str, str], names: tuple[str, ...]) -> str:
    return next((env[name] for name in names if env.get(name)), "")


def pick_provider(env: dict[str, str]) -> str:
    """The provider the original would choose from the vendor variables present."""
    for provider, names in AUTO_PICK:
        if _first(env, names):
            return provider
    return "offline"


def _json_object(text: str, variable: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{variable} is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f"{variable} must be a JSON object, got {text[:60]!r}."
        )
    return value


def _base_url(url: str, variable: str) -> str:
    """Validate the URL; complete the original's styles to the SDK's `.../v1` base."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"{variable} must be an http(s) URL.")
    url = url.rstrip("/").removesuffix("/chat/completions")
    path = urlsplit(url).path
    # The original accepted a bare host and DashScope's ".../compatible-mode" and
    # appended /v1 itself; the SDK expects it in the base URL.
    if path in ("", "/") or path.endswith("/compatible-mode"):
        url += "/v1"
    return url


def resolve_llm_config(
    purpose: LLMPurpose | str = LLMPurpose.CHAT,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> LLMConfig:
    """The configuration `llm_from_settings` would build, without building it."""
    from django.conf import settings

    purpose = LLMPurpose(purpose)
    env = _env(settings)
    chosen = provider or str(_setting(settings, "AUTOSKILL_LLM_PROVIDER") or "")
    name = normalise_provider(chosen) if chosen.strip() else pick_provider(env)
    if name == "offline":
        return LLMConfig(provider="offline")
    vendor = VENDORS[name]
    url_var = f"AUTOSKILL_LLM_BASE_URL or {vendor.url}"
    model_var = f"AUTOSKILL_LLM_MODEL or {vendor.model}"
    key_var = f"AUTOSKILL_LLM_API_KEY or {' / '.join(vendor.keys)}"

    base_url = str(
        _setting(settings, "AUTOSKILL_LLM_BASE_URL") or env.get(vendor.url, "")
    )
    if not base_url:
        raise ImproperlyConfigured(
            f"The {name} LLM provider needs a base URL: set {url_var} "
            "(no vendor endpoint is assumed; the README lists each vendor's URL)."
        )
    chat_model = str(
        _setting(settings, "AUTOSKILL_LLM_MODEL") or env.get(vendor.model, "")
    )
    background = str(_setting(settings, "AUTOSKILL_EXTRACTION_LLM_MODEL") or "")
    chosen_model = model or (
        background if purpose in BACKGROUND_PURPOSES and background else chat_model
    )
    if not chosen_model:
        raise ImproperlyConfigured(
            f"The {name} LLM provider needs a model name: set {model_var}."
        )
    api_key = str(
        _setting(settings, "AUTOSKILL_LLM_API_KEY") or _first(env, vendor.keys)
    )
    if vendor.key_required and not api_key:
        raise ImproperlyConfigured(
            f"The {name} LLM provider needs an API key: set {key_var}."
        )

    auth_mode = str(
        _setting(settings, "AUTOSKILL_LLM_AUTH_MODE")
        or (env.get("BIGMODEL_AUTH_MODE") if name == "glm" else "")
        or ("auto" if name == "glm" else "api_key")
    ).lower()
    if auth_mode not in AUTH_MODES:
        raise ImproperlyConfigured(
            f"AUTOSKILL_LLM_AUTH_MODE / BIGMODEL_AUTH_MODE={auth_mode!r}: use {', '.join(AUTH_MODES)}."
        )
    if auth_mode == "jwt" and not looks_like_glm_key(api_key):
        raise ImproperlyConfigured(
            f"JWT auth needs a key of the form id.secret in {key_var}."
        )
    time_unit = (env.get("BIGMODEL_TOKEN_TIME_UNIT") or "ms").lower()
    if time_unit not in TIME_UNITS:
        raise ImproperlyConfigured(
            f"BIGMODEL_TOKEN_TIME_UNIT={time_unit!r}: use {' or '.join(TIME_UNITS)}."
        )
    thinking: bool | None = None
    if name == "internlm":
        raw = (env.get("INTERNLM_THINKING_MODE") or "1").lower()
        if raw not in _TRUE | _FALSE:
            raise ImproperlyConfigured(
                f"INTERNLM_THINKING_MODE={raw!r} is not a boolean."
            )
        thinking = raw in _TRUE

    extra: dict[str, Any] = {}
    if vendor.extra_body:
        extra.update(_json_object(env.get(vendor.extra_body, ""), vendor.extra_body))
    extra.update(
        _json_object(
            str(_setting(settings, "AUTOSKILL_LLM_EXTRA_BODY") or ""),
            "AUTOSKILL_LLM_EXTRA_BODY",
        )
    )
    timeout = float(_setting(settings, "AUTOSKILL_LLM_TIMEOUT", 60) or 60)
    retries = int(_setting(settings, "AUTOSKILL_LLM_RETRIES", 3))
    if timeout <= 0 or retries < 0:
        raise ImproperlyConfigured(
            "AUTOSKILL_LLM_TIMEOUT must be positive and AUTOSKILL_LLM_RETRIES not negative."
        )
    return LLMConfig(
        provider=name,
        model=chosen_model,
        base_url=_base_url(base_url, url_var),
        api_key=api_key,
        auth_mode=auth_mode,
        jwt_time_unit=time_unit,
        thinking_mode=thinking,
        extra_body=json.dumps(extra, sort_keys=True),
        max_tokens=int(_setting(settings, "AUTOSKILL_LLM_MAX_TOKENS", 0) or 0),
        timeout=timeout,
        retries=retries,
    )


_BUILT: dict[LLMConfig, LLMClient] = {}
_BUILT_LOCK = threading.Lock()


def _build(config: LLMConfig) -> LLMClient:
    if config.provider == "offline":
        from autoskill_site.providers.offline import OfflineLLM

        return OfflineLLM()
    common: dict[str, Any] = {
        "base_url": config.base_url,
        "model": config.model,
        "extra_body": json.loads(config.extra_body),
        "max_tokens": config.max_tokens or None,
        "timeout": config.timeout,
        "retries": config.retries,
    }
    if config.provider == "anthropic":
        from autoskill_site.providers.anthropic_chat import AnthropicLLM

        return AnthropicLLM(api_key=config.api_key, **common)
    from autoskill_site.providers.openai_chat import OpenAICompatibleLLM

    return OpenAICompatibleLLM(
        api_key=config.api_key,
        provider=config.provider,
        auth_mode=config.auth_mode,
        jwt_time_unit="s" if config.jwt_time_unit == "s" else "ms",
        thinking_mode=config.thinking_mode,
        **common,
    )


def llm_from_settings(
    purpose: LLMPurpose | str = LLMPurpose.CHAT,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> LLMClient:
    """The configured client for `purpose`; `provider`/`model` override settings.

    Background purposes (extraction, rewrite, selection, audit) default to
    AUTOSKILL_EXTRACTION_LLM_MODEL when set. The same configuration always returns
    the same client, so vendor quirks learnt at runtime are remembered.
    """
    config = resolve_llm_config(purpose, provider=provider, model=model)
    with _BUILT_LOCK:
        client = _BUILT.get(config)
        if client is None:
            client = _BUILT[config] = _build(config)
        return client


def llm_cache_clear() -> None:
    """Close and forget every cached client (tests, and settings reloads)."""
    with _BUILT_LOCK:
        clients = list(_BUILT.values())
        _BUILT.clear()
    for client in clients:
        close = getattr(client, "close", None)
        if callable(close):
            close()


def describe_llm(
    purpose: LLMPurpose | str = LLMPurpose.CHAT,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> dict[str, str]:
    """Provider, model and credential-free base URL, for logs and the admin.

    A misconfiguration is reported in an `error` entry rather than raised, so a
    status page can show it.
    """
    try:
        config = resolve_llm_config(purpose, provider=provider, model=model)
    except ImproperlyConfigured as exc:
        return {
            "provider": provider or "",
            "model": model or "",
            "base_url": "",
            "error": str(exc),
        }
    if config.provider == "offline":
        # OfflineLLM's fixed model name; describing must not build a client.
        return {"provider": "offline", "model": "offline-heuristic", "base_url": ""}
    from autoskill_site.providers.embeddings import public_url

    return {
        "provider": config.provider,
        "model": config.model,
        "base_url": public_url(config.base_url),
    }
