"""Any OpenAI-compatible /embeddings endpoint, through the `openai` package.

Kept apart from the local and hashing embedders because it owns the HTTP concerns:
timeouts, retries with jittered backoff, and error messages that never leak the key.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from autoskill_site.providers.embeddings import (
    _OPENAI_DEFAULT_MODEL,
    _RETRYABLE,
    EmbeddingError,
    _as_list,
    _batched,
    embedding_signature,
    l2_normalise,
)


def public_url(url: str) -> str:
    """The URL without user:password, safe to put in an error message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class OpenAICompatibleEmbedder:
    """Any OpenAI-compatible /embeddings endpoint, with our own retry policy.

    `dims` is 0 until the first response when no dimensions were requested; only
    requested dimensions enter the signature (as in the original).
    """

    provider = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str = _OPENAI_DEFAULT_MODEL,
        dims: int | None = None,
        batch_size: int = 32,
        retries: int = 3,
        timeout: float = 30.0,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        import httpx2
        from openai import OpenAI

        if not api_key:
            raise ValueError("api_key is required (pass it explicitly).")
        self.model = model
        self.requested_dims = dims or None
        self.dims = dims or 0
        self.batch_size = max(1, batch_size)
        self.retries = max(0, retries)
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.url = public_url(base_url.rstrip("/") + "/embeddings")
        self._api_key = api_key
        self._http = httpx2.Client(trust_env=False, timeout=timeout)
        self._client = OpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=0,
            http_client=self._http,
        )

    @property
    def signature(self) -> str:
        return embedding_signature(self.provider, self.model, self.requested_dims)

    def close(self) -> None:
        self._http.close()

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***")[:300]

    def _detail(self, exc: Any) -> str:
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            error = body.get("error", body)
            body = error.get("message", error) if isinstance(error, dict) else error
        return self._redact(str(body if body is not None else exc))

    def _fail(self, status: int, detail: str) -> EmbeddingError:
        where = f"The embeddings endpoint {self.url} answered HTTP {status}"
        if status in (401, 403):
            hint = "Check the API key (AUTOSKILL_EMBEDDINGS_API_KEY or OPENAI_API_KEY)."
        elif status == 404:
            hint = f"Check the base URL (it usually ends in /v1) and the model {self.model!r}."
        else:
            hint = f"Check the model {self.model!r} and AUTOSKILL_EMBEDDINGS_DIMS."
        return EmbeddingError(f"{where}: {detail}. {hint}")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.max_backoff, self.backoff * 2**attempt)
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrecy
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = max(delay, min(float(retry_after), self.max_backoff))
        time.sleep(delay)

    def _request(self, batch: list[str]) -> Any:
        import openai

        extra: dict[str, Any] = {}
        if self.requested_dims:
            extra["dimensions"] = self.requested_dims
        last = ""
        for attempt in range(self.retries + 1):
            retry_after = None
            try:
                return self._client.embeddings.create(
                    model=self.model, input=batch, encoding_format="float", **extra
                )
            except openai.APITimeoutError:
                last = f"no answer within {self.timeout:g} s (AUTOSKILL_EMBEDDINGS_TIMEOUT)"
            except openai.APIConnectionError as exc:
                last = f"connection failed ({self._redact(str(exc.__cause__ or exc))})"
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status not in _RETRYABLE and status < 500:
                    raise self._fail(status, self._detail(exc)) from None
                last = f"HTTP {status}: {self._detail(exc)}"
                retry_after = exc.response.headers.get("retry-after")
            if attempt < self.retries:
                self._sleep(attempt, retry_after)
        raise EmbeddingError(
            f"The embeddings endpoint {self.url} still failed after {self.retries + 1} "
            f"attempts; last error: {last}. Check AUTOSKILL_EMBEDDINGS_BASE_URL and "
            "that the server is running."
        )

    def _batch(self, batch: list[str]) -> np.ndarray:
        response = self._request(batch)
        try:
            items = sorted(response.data, key=lambda item: item.index)
            indexes = [item.index for item in items]
            rows = np.array([item.embedding for item in items], dtype=np.float32)
        except (AttributeError, TypeError, ValueError) as exc:
            raise EmbeddingError(
                f"The embeddings endpoint {self.url} sent a malformed response "
                "(missing, ragged or non-numeric vectors)."
            ) from exc
        if indexes != list(range(len(batch))):
            raise EmbeddingError(
                f"The embeddings endpoint {self.url} returned {len(indexes)} vectors for "
                f"{len(batch)} inputs (indexes {indexes[:8]})."
            )
        if (
            rows.ndim != 2
            or rows.shape[1] == 0
            or rows.shape[1] != (self.dims or rows.shape[1])
        ):
            raise EmbeddingError(
                f"The embeddings endpoint {self.url} returned {rows.shape[-1]}-dimensional "
                f"vectors, expected {self.dims}; check AUTOSKILL_EMBEDDINGS_DIMS and the model."
            )
        self.dims = rows.shape[1]
        return l2_normalise(rows)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return _batched(_as_list(texts), self.batch_size, self._batch, self.dims)

    def embed_query(self, text: str) -> np.ndarray:
        return self._batch([text])[0]
