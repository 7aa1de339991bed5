"""A fake OpenAI-compatible (and Anthropic) server on loopback, for real-HTTP tests.

Tests never leave 127.0.0.1, and the `openai` 3.x SDK runs on httpx2 (respx cannot
intercept it), so a small real server is the most faithful fake. Stdlib only.

Each route answers from a queue of scripted responses (status, JSON body, delay,
text) and falls back to a default handler when the queue is empty. Every request is
recorded. New routes are added with `route(path, handler)`. The Anthropic Messages
route (`ANTHROPIC`, /v1/messages) answers JSON or the named SSE event stream. A `RESET`
event in a stream drops the connection with a TCP reset, as a crashed upstream would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


@dataclass
class Scripted:
    """One canned answer. `body` wins; else `text` feeds the chat handler."""

    status: int = 200
    body: Any = None
    delay: float = 0.0
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


class Reset:
    """A stream event: abort the connection with a TCP reset (RST, not a clean close)."""


RESET = Reset()


@dataclass
class Reply:
    """What a route handler produces: JSON, or a list of SSE events.

    An event is a `data:` payload, or an (event name, payload) pair for servers that
    name their events (Anthropic), or a number: seconds to pause before the next one,
    or `RESET`: drop the connection there.
    """

    status: int = 200
    body: Any = None
    events: list[str | tuple[str, str] | float | Reset] | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Recorded, Scripted | None], Reply]


def fake_vector(text: str, dims: int) -> list[float]:
    """Deterministic, deliberately not unit-length (clients must normalise)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311
    return [round(rng.gauss(0.0, 3.0), 6) for _ in range(dims)]


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class FakeOpenAIServer:
    """Start with `start()` (or as a context manager); `base_url` ends in /v1."""

    def __init__(
        self, *, embedding_dims: int = 8, chat_text: str = "Hello from the fake."
    ) -> None:
        self.embedding_dims = embedding_dims
        self.chat_text = chat_text
        self.requests: list[Recorded] = []
        self._queues: dict[str, deque[Scripted]] = {}
        self._routes: dict[str, Handler] = {
            EMBEDDINGS: self._embeddings,
            CHAT: self._chat,
            ANTHROPIC: self._anthropic,
        }
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle plus
            # delayed ACKs add ~40 ms to every answer and swamp latency benchmarks.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                server._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            # The default backlog of 5 resets connections under concurrent benchmarks.
            request_queue_size = 128

            def process_request(self, request: Any, client_address: Any) -> None:
                with server._lock:
                    server._connections.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with server._lock:
                    server._connections.discard(request)
                super().shutdown_request(request)

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out hang up mid-answer; that is expected

        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            # Wake handler threads parked on idle keep-alive connections.
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------
    def route(self, path: str, handler: Handler) -> None:
        self._routes[path] = handler

    def enqueue(self, path: str, *responses: Scripted) -> None:
        with self._lock:
            self._queues.setdefault(path, deque()).extend(responses)

    def fail(
        self,
        path: str,
        status: int,
        message: str = "scripted failure",
        times: int = 1,
        **kw: Any,
    ) -> None:
        """Queue `times` error answers in the OpenAI error envelope."""
        self.enqueue(
            path,
            *[
                Scripted(status=status, body=error_body(message), **kw)
                for _ in range(times)
            ],
        )

    def reply_chat(self, *texts: str) -> None:
        self.enqueue(CHAT, *[Scripted(text=text) for text in texts])

    def reply_anthropic(self, *texts: str) -> None:
        self.enqueue(ANTHROPIC, *[Scripted(text=text) for text in texts])

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- serving -----------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        path = http.path.split("?", 1)[0]
        recorded = Recorded(
            http.command, path, {k.lower(): v for k, v in http.headers.items()}, payload
        )
        with self._lock:
            self.requests.append(recorded)
            queue = self._queues.get(path)
            scripted = queue.popleft() if queue else None
        if scripted is not None and scripted.delay:
            self._stopping.wait(scripted.delay)
        handler = self._routes.get(path)
        if scripted is not None and (
            scripted.body is not None or scripted.status >= 400
        ):
            body = (
                scripted.body if scripted.body is not None else error_body("scripted")
            )
            reply = Reply(scripted.status, body, headers=scripted.headers)
        elif handler is None:
            reply = Reply(404, error_body(f"No route {path}"))
        else:
            reply = handler(recorded, scripted)
        self._send(http, reply)

    def _send(self, http: BaseHTTPRequestHandler, reply: Reply) -> None:
        http.send_response(reply.status)
        for name, value in reply.headers.items():
            http.send_header(name, value)
        if reply.events is None:
            data = json.dumps(reply.body).encode("utf-8")
            http.send_header("Content-Type", "application/json")
            http.send_header("Content-Length", str(len(data)))
            http.end_headers()
            http.wfile.write(data)
            return
        http.send_header("Content-Type", "text/event-stream")
        http.send_header("Cache-Control", "no-cache")
        http.send_header("Connection", "close")
        http.end_headers()
        for event in reply.events:
            if isinstance(event, Reset):
                # SO_LINGER 0 turns close() into a reset. The fd is closed directly:
                # rfile still references the socket, which would defer socket.close().
                http.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                os.close(http.connection.detach())
                http.close_connection = True
                return
            if isinstance(event, int | float):
                # A pause mid-stream (keep-alive and disconnect tests).
                self._stopping.wait(event)
                continue
            if isinstance(event, tuple):
                name, data = event
                http.wfile.write(f"event: {name}\ndata: {data}\n\n".encode())
            else:
                http.wfile.write(f"data: {event}\n\n".encode())
            http.wfile.flush()
        http.close_connection = True

    # -- default routes ----------------------------------------------------
    def _embeddings(self, request: Recorded, scripted: Scripted | None) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        dims = int(body.get("dimensions") or self.embedding_dims)
        data = []
        for index, text in enumerate(inputs):
            vector: Any = fake_vector(str(text), dims)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(str(text).split()) for text in inputs)
        return Reply(
            body={
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _chat(self, request: Recorded, scripted: Scripted | None) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        text = (
            scripted.text
            if scripted is not None and scripted.text is not None
            else self.chat_text
        )
        model = body.get("model", "fake-chat")
        ident = f"chatcmpl-fake{len(self.requests)}"
        created = int(time.time())
        if not body.get("stream"):
            return Reply(
                body={
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 1,
                        "completion_tokens": len(text.split()),
                        "total_tokens": 1 + len(text.split()),
                    },
                }
            )

        def chunk(delta: dict[str, Any], finish: str | None) -> str:
            return json.dumps(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": piece}, None) for piece in _pieces(text)]
        events += [chunk({}, "stop"), "[DONE]"]
        return Reply(events=events)

    def _anthropic(self, request: Recorded, scripted: Scripted | None) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        text = (
            scripted.text
            if scripted is not None and scripted.text is not None
            else self.chat_text
        )
        model = body.get("model", "fake-claude")
        ident = f"msg_fake{len(self.requests)}"
        usage = {"input_tokens": 3, "output_tokens": len(text.split())}
        message = {
            "id": ident,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return Reply(body=message)

        def event(name: str, **data: Any) -> tuple[str, str]:
            return name, json.dumps({"type": name, **data})

        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": 3, "output_tokens": 0}
        events = [event("message_start", message=start)]
        events.append(
            event(
                "content_block_start",
                index=0,
                content_block={"type": "text", "text": ""},
            )
        )
        events += [
            event(
                "content_block_delta",
                index=0,
                delta={"type": "text_delta", "text": piece},
            )
            for piece in _pieces(text)
        ]
        events += [
            event("content_block_stop", index=0),
            event(
                "message_delta",
                delta={"stop_reason": "end_turn", "stop_sequence": None},
                usage={"output_tokens": usage["output_tokens"]},
            ),
            event("message_stop"),
        ]
        return Reply(events=events)


def _pieces(text: str) -> Iterator[str]:
    """Split into word-sized deltas that join back to the exact text."""
    start = 0
    for index in range(1, len(text) + 1):
        if index == len(text) or (text[index] == " " and text[index - 1] != " "):
            yield text[start:index]
            start = index
