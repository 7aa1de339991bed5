"""AutoSkillConfig: the original's configuration shape, mapped onto our settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# The original's `from_dict` spellings.
_ALIASES = {"embedding": "embeddings", "vector_store": "store"}
_STORE_PATH_KEYS = ("path", "root_dir", "dir")


@dataclass(frozen=True)
class AutoSkillConfig:
    """How the in-process facade sets up the app; defaults follow the original.

    `llm={"provider": "mock"}` is our offline provider (deterministic, no network).
    `embeddings` takes `hashing` (default, with `dims`), `local`, `openai`... or
    `none`. `store={"path": DIR}` is the SkillBank mirror folder; the skills
    themselves live in the database, by default a SQLite file next to it
    (`<DIR>.sqlite3`), or `database` (a path or a DATABASE_URL). With no store path
    and no database, the app's embedded default (var/db.sqlite3) is used.

    These settings only apply when the facade is the one to set Django up; in a
    process where Django is already configured (a test run, the server's shell)
    that configuration is reused, and only `llm`, `user_id`, `scope`,
    `default_search_limit`, `min_score` and `max_context_chars` (passed per call)
    still take effect.
    """

    llm: Mapping[str, Any] = field(default_factory=lambda: {"provider": "mock"})
    embeddings: Mapping[str, Any] = field(
        default_factory=lambda: {"provider": "hashing", "dims": 256}
    )
    store: Mapping[str, Any] = field(default_factory=dict)
    database: str | None = None
    user_id: str = "u1"
    scope: str = "all"
    default_search_limit: int = 5
    # The original SDK's search has no threshold; the proxy's AUTOSKILL_MIN_SCORE
    # is for injection, where a weak hit costs the model attention.
    min_score: float = 0.0
    max_context_chars: int = 6000
    auto_migrate: bool = True
    settings_module: str = "autoskill_site.settings.base"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutoSkillConfig:
        """The original's dict form; unknown keys land in `extra`."""
        known = {f.name for f in fields(cls)}
        args: dict[str, Any] = {}
        extra: dict[str, Any] = dict(data.get("extra") or {})
        for key, value in data.items():
            name = _ALIASES.get(key, key)
            if name == "extra":
                continue
            if name in known:
                args[name] = value
            else:
                extra[key] = value
        return cls(**args, extra=extra)

    @property
    def store_path(self) -> Path | None:
        for key in _STORE_PATH_KEYS:
            if self.store.get(key):
                return Path(str(self.store[key])).expanduser().resolve()
        return None

    def database_url(self) -> str | None:
        """The DATABASE_URL this config asks for, or None for the app's default."""
        if self.database:
            text = str(self.database)
            if "://" in text:
                return text
            return f"sqlite:///{Path(text).expanduser().resolve()}"
        store = self.store_path
        if store is not None:
            return f"sqlite:///{store.with_name(store.name + '.sqlite3')}"
        return None

    def environment(self) -> dict[str, str]:
        """The environment variables that carry this config into our settings."""
        env: dict[str, str] = {}
        url = self.database_url()
        if url:
            env["DATABASE_URL"] = url
        if self.store_path is not None:
            env["AUTOSKILL_STORE_DIR"] = str(self.store_path)
        for key, name in (
            ("provider", "AUTOSKILL_LLM_PROVIDER"),
            ("model", "AUTOSKILL_LLM_MODEL"),
            ("base_url", "AUTOSKILL_LLM_BASE_URL"),
            ("api_key", "AUTOSKILL_LLM_API_KEY"),
        ):
            if self.llm.get(key):
                env[name] = str(self.llm[key])
        for key, name in (
            ("provider", "AUTOSKILL_EMBEDDINGS_PROVIDER"),
            ("model", "AUTOSKILL_EMBEDDINGS_MODEL"),
            ("base_url", "AUTOSKILL_EMBEDDINGS_BASE_URL"),
            ("api_key", "AUTOSKILL_EMBEDDINGS_API_KEY"),
            ("dims", "AUTOSKILL_EMBEDDINGS_DIMS"),
        ):
            if self.embeddings.get(key):
                env[name] = str(self.embeddings[key])
        env["AUTOSKILL_MAX_CONTEXT_CHARS"] = str(int(self.max_context_chars))
        # A script reads its own writes: vectors are computed before ingest returns.
        env["AUTOSKILL_EMBEDDINGS_SYNC"] = "1"
        # One process writes and reads: check the index generation on every search
        # (one cheap query) instead of once a second, which suits a server.
        env["AUTOSKILL_INDEX_CHECK_SECONDS"] = "0"
        return env
