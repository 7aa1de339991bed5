"""HTTP client of the server under test: chat turns, extraction jobs, the model list.

Speaks only the fields the original's evaluation client reads (ref-server.md §6.5), so a
passing run is also evidence that those fields are still served.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from autoskill_site.exceptions import ApplicationError

TERMINAL = ("completed", "failed")


class EvalHTTPError(ApplicationError):
    """A call to the server under test failed (status, method, path and body in the text)."""


@dataclass
class ChatResult:
    """One answered chat call: the text and the `autoskill` diagnostics it carried."""

    content: str
    autoskill: dict[str, Any] = field(default_factory=dict)


class ProxyClient:
    """The server under test, reached with one bearer key (a service key for `user`)."""

    def __init__(
        self, *, base_url: str, api_key: str, timeout_s: float, turn_timeout_s: float
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.turn_timeout_s = turn_timeout_s
        self._http = httpx2.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def _check(self, response: httpx2.Response, method: str, path: str) -> None:
        if response.status_code >= 400:
            raise EvalHTTPError(
                f"HTTP {response.status_code} {method} {path}: {response.text[:500]}"
            )

    def model_default(self) -> str:
        """`data[0].id` of GET /v1/models, as the original picks a model."""
        response = self._http.get("/v1/models")
        self._check(response, "GET", "/v1/models")
        models = response.json().get("data") or []
        if not models:
            raise EvalHTTPError("GET /v1/models listed no model; pass --model.")
        return str(models[0]["id"])

    def chat(
        self, *, model: str, user: str, messages: list[dict[str, str]], stream: bool
    ) -> ChatResult:
        """One chat completion as `user`; streaming reads the first `autoskill` chunk."""
        payload = {
            "model": model,
            "stream": stream,
            "temperature": 0.0,
            "max_tokens": 2048,
            "user": user,
            "messages": messages,
        }
        path = "/v1/chat/completions"
        if not stream:
            response = self._http.post(path, json=payload, timeout=self.turn_timeout_s)
            self._check(response, "POST", path)
            body = response.json()
            content = body["choices"][0]["message"].get("content") or ""
            return ChatResult(content=content, autoskill=body.get("autoskill") or {})
        parts: list[str] = []
        autoskill: dict[str, Any] | None = None
        error: str | None = None
        headers = {"Accept": "text/event-stream"}
        with self._http.stream(
            "POST", path, json=payload, headers=headers, timeout=self.turn_timeout_s
        ) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response, "POST", path)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if isinstance(chunk.get("error"), dict):
                    error = str(chunk["error"].get("message"))
                if autoskill is None and isinstance(chunk.get("autoskill"), dict):
                    autoskill = chunk["autoskill"]
                for choice in chunk.get("choices") or []:
                    parts.append((choice.get("delta") or {}).get("content") or "")
        if error is not None:
            raise EvalHTTPError(f"stream error from POST {path}: {error}")
        return ChatResult(content="".join(parts), autoskill=autoskill or {})

    def job_wait(
        self, *, job_id: str, user: str, timeout_s: float, poll_s: float
    ) -> dict[str, Any]:
        """Poll a job until it is terminal or the time is up; transient errors retry.

        `user` goes in X-AutoSkill-User: a service key sees only its sub-user's jobs.
        """
        path = f"/v1/autoskill/extractions/{job_id}"
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {"status": "timeout", "upserted": []}
        while True:
            try:
                response = self._http.get(path, headers={"X-AutoSkill-User": user})
                if response.status_code < 400:
                    last = response.json().get("data") or {}
                    if last.get("status") in TERMINAL:
                        return last
                elif response.status_code in (401, 403, 404):
                    self._check(response, "GET", path)
            except httpx2.TransportError:
                pass  # the server may be restarting; the deadline bounds the wait
            if time.monotonic() >= deadline:
                return {
                    **last,
                    "status": last.get("status") or "timeout",
                    "timed_out": True,
                }
            time.sleep(poll_s)
