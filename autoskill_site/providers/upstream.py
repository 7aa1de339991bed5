"""The async upstream the OpenAI-compatible proxy forwards chat requests to.

OpenAI-compatible providers (openai, generic, dashscope, glm, internlm) are reached
over HTTP with one pooled `httpx2.AsyncClient` per configuration and event loop:
request bodies go out untouched (tools, tool_choice, response_format, n, seed,
unknown fields) and streamed answers come back line by line. The `offline` and
`anthropic` providers do not speak that protocol; `upstream_synth` builds
OpenAI-format answers from their `LLMClient` instead.

Failures become `UpstreamError`, which carries the status the proxy should answer
with and an OpenAI error body: never assistant text. A leaf module: no app imports.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import httpx2

from autoskill_site.metrics import count_upstream_error
from autoskill_site.providers.embeddings import public_url
from autoskill_site.providers.glm_auth import GLMTokenCache, resolve_auth_mode
from autoskill_site.providers.llm_config import LLMConfig

__all__ = [
    "HTTPUpstream",
    "Upstream",
    "UpstreamError",
    "UpstreamStream",
    "upstream_aclose_all",
    "upstream_for",
]

# Upstream statuses the client may act on itself (fix its request, slow down).
_RELAYED_4XX = frozenset({400, 404, 409, 413, 415, 422, 429})
_MAX_ERROR_TEXT = 500
KEEPALIVE_CONNECTIONS = 32
KEEPALIVE_EXPIRY_S = 30.0


class UpstreamError(Exception):
    """An upstream failure, as the status and OpenAI error the proxy should answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = "upstream_error",
        kind: str | None = None,
        param: str | None = None,
        upstream_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.kind = kind or (
            "server_error" if status >= 500 else "invalid_request_error"
        )
        self.param = param
        self.upstream_status = upstream_status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The OpenAI error envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


class UpstreamStream(Protocol):
    """An opened streamed answer: the `data:` payloads in order, then closed."""

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    """What the proxy needs from a chat provider."""

    provider: str
    model: str
    supports_tools: bool

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def chat_stream(self, body: dict[str, Any]) -> UpstreamStream: ...

    async def models(self) -> list[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


def error_from_response(status: int, raw: bytes, where: str) -> UpstreamError:
    """The proxy's answer to an upstream HTTP error (its message kept, keys hidden)."""
    detail: dict[str, Any] = {}
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    if isinstance(parsed, Mapping):
        error = parsed.get("error", parsed)
        if isinstance(error, Mapping):
            detail = dict(error)
        elif isinstance(error, str):
            detail = {"message": error}
    message = str(
        detail.get("message") or raw[:_MAX_ERROR_TEXT].decode("utf-8", "replace")
    )
    message = message[:_MAX_ERROR_TEXT] or f"HTTP {status} without a body"
    if status in _RELAYED_4XX:
        # The client's own request (or rate) is at fault: relay it as the upstream said.
        return UpstreamError(
            status,
            message,
            code=str(detail["code"]) if detail.get("code") is not None else None,
            kind=str(detail.get("type") or "") or None,
            param=str(detail["param"]) if detail.get("param") is not None else None,
            upstream_status=status,
        )
    if status in (401, 403, 407):
        # The caller's key was good with us; the proxy's own upstream credentials are not.
        return UpstreamError(
            502,
            f"{where} rejected the proxy's credentials (HTTP {status}): {message}. "
            "Check the provider API key in the server configuration.",
            code="upstream_auth_failed",
            upstream_status=status,
        )
    return UpstreamError(
        502,
        f"{where} failed with HTTP {status}: {message}",
        code="upstream_error",
        upstream_status=status,
    )


def error_from_transport(exc: Exception, where: str, timeout: float) -> UpstreamError:
    """Timeouts become 504, every other transport failure 502."""
    if isinstance(exc, httpx2.TimeoutException):
        return UpstreamError(
            504,
            f"{where} gave no answer within {timeout:g} s (AUTOSKILL_LLM_TIMEOUT).",
            code="upstream_timeout",
        )
    return UpstreamError(
        502,
        f"{where} could not be reached ({type(exc).__name__}). Check the base URL "
        "and that the server is running.",
        code="upstream_unreachable",
    )


_REASONS = {
    "upstream_timeout": "timeout",
    "upstream_unreachable": "network",
    "upstream_malformed_response": "malformed",
}


def counted(error: UpstreamError, provider: str) -> UpstreamError:
    """`error`, counted in autoskill_upstream_errors_total (GET /metrics)."""
    reason = (
        str(error.upstream_status)
        if error.upstream_status
        else _REASONS.get(error.code or "", str(error.status))
    )
    count_upstream_error(provider=provider, reason=reason)
    return error


class _HTTPStream:
    """The `data:` payloads of one SSE response; closing it drops the connection."""

    def __init__(self, response: httpx2.Response, upstream: HTTPUpstream) -> None:
        self._response = response
        self._upstream = upstream
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for line in self._response.aiter_lines():
                # Comments, `event:`/`id:` fields and blank separators carry no chunk.
                if line.startswith("data:"):
                    yield line[5:].strip()
        except httpx2.HTTPError as exc:
            raise counted(
                error_from_transport(exc, self._upstream.where, self._upstream.timeout),
                self._upstream.provider,
            ) from None

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._upstream.open_streams -= 1
            await self._response.aclose()


class HTTPUpstream:
    """An OpenAI-compatible server: bodies forwarded as sent, auth from the config."""

    supports_tools = True

    def __init__(self, config: LLMConfig) -> None:
        self.provider = config.provider
        self.model = config.model
        self.base_url = config.base_url.rstrip("/")
        self.timeout = float(config.timeout)
        self.where = f"The {config.provider} upstream {public_url(self.base_url)}"
        self.open_streams = 0
        self._api_key = config.api_key
        self._thinking_mode = config.thinking_mode
        self._extra_body = json.loads(config.extra_body or "{}")
        self._tokens = (
            GLMTokenCache(config.api_key, time_unit=config.jwt_time_unit)  # type: ignore[arg-type]
            if config.api_key
            and resolve_auth_mode(config.auth_mode, config.api_key) == "jwt"
            else None
        )
        self._http = httpx2.AsyncClient(
            trust_env=False,
            timeout=httpx2.Timeout(self.timeout),
            limits=httpx2.Limits(
                max_keepalive_connections=KEEPALIVE_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
            ),
        )

    def __repr__(self) -> str:
        return f"HTTPUpstream(provider={self.provider!r}, base_url={public_url(self.base_url)!r})"

    def _failed(self, error: UpstreamError) -> UpstreamError:
        return counted(error, self.provider)

    def _headers(self, *, stream: bool = False) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._tokens is not None:
            headers["Authorization"] = f"Bearer {self._tokens.token()}"
        elif self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The client's body, plus configured vendor extras it did not set itself."""
        sent = dict(body)
        for key, value in self._extra_body.items():
            sent.setdefault(key, value)
        if self._thinking_mode is not None:
            sent.setdefault("thinking_mode", self._thinking_mode)
        sent.setdefault("model", self.model)
        return sent

    async def _send(
        self, method: str, path: str, *, body: Any = None, stream: bool = False
    ) -> httpx2.Response:
        request = self._http.build_request(
            method,
            f"{self.base_url}{path}",
            headers=self._headers(stream=stream),
            content=None if body is None else json.dumps(body, ensure_ascii=False),
        )
        if body is not None:
            request.headers["Content-Type"] = "application/json"
        try:
            response = await self._http.send(request, stream=True)
        except httpx2.HTTPError as exc:
            raise self._failed(
                error_from_transport(exc, self.where, self.timeout)
            ) from None
        if response.status_code >= 400:
            try:
                raw = await response.aread()
            except httpx2.HTTPError:
                raw = b""
            finally:
                await response.aclose()
            error = error_from_response(response.status_code, raw, self.where)
            if "retry-after" in response.headers:
                error.headers["Retry-After"] = response.headers["retry-after"]
            raise self._failed(error)
        if not stream:
            try:
                await response.aread()
            except httpx2.HTTPError as exc:
                raise self._failed(
                    error_from_transport(exc, self.where, self.timeout)
                ) from None
            finally:
                await response.aclose()
        return response

    def _json(self, response: httpx2.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self._failed(
                UpstreamError(
                    502,
                    f"{self.where} answered with something that is not a JSON object.",
                    code="upstream_malformed_response",
                )
            )
        return data

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """One non-streamed completion, exactly as the upstream produced it."""
        sent = {**self._body(body), "stream": False}
        response = await self._send("POST", "/chat/completions", body=sent)
        data = self._json(response)
        if not isinstance(data.get("choices"), list):
            raise self._failed(
                UpstreamError(
                    502,
                    f"{self.where} answered without `choices`.",
                    code="upstream_malformed_response",
                )
            )
        return data

    async def chat_stream(self, body: dict[str, Any]) -> UpstreamStream:
        """Open a streamed completion; errors before the first byte raise here."""
        sent = {**self._body(body), "stream": True}
        response = await self._send("POST", "/chat/completions", body=sent, stream=True)
        self.open_streams += 1
        return _HTTPStream(response, self)

    async def models(self) -> list[dict[str, Any]]:
        """The upstream's model list (`data` of GET /models)."""
        data = self._json(await self._send("GET", "/models"))
        items = data.get("data")
        if not isinstance(items, list):
            raise UpstreamError(
                502, f"{self.where} sent a model list without `data`.",
                code="upstream_malformed_response",
            )  # fmt: skip
        return [item for item in items if isinstance(item, dict) and item.get("id")]

    async def aclose(self) -> None:
        await self._http.aclose()


# One upstream per configuration and event loop: pooled connections belong to the
# loop that opened them, so a client must never cross loops.
_CACHE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[LLMConfig, Any]] = (
    weakref.WeakKeyDictionary()
)


def upstream_for(config: LLMConfig) -> Upstream:
    """The pooled upstream for `config` on the running event loop."""
    loop = asyncio.get_running_loop()
    clients = _CACHE.setdefault(loop, {})
    client = clients.get(config)
    if client is None:
        if config.provider in ("offline", "anthropic"):
            from autoskill_site.providers.upstream_synth import SynthesizedUpstream

            client = SynthesizedUpstream(config)
        else:
            client = HTTPUpstream(config)
        clients[config] = client
    return client


async def upstream_aclose_all() -> None:
    """Close every upstream of the running loop (server shutdown, tests)."""
    clients = _CACHE.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()
