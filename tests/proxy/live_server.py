"""A live ASGI server (uvicorn) on loopback serving `autoskill_site.asgi.application`.

pytest-django's live_server is WSGI, which cannot stream an async view, so the proxy
tests run the real ASGI application in a background thread with its own event loop.
It shares the process, so the `settings` fixture and transactional test data
(`django_db(transaction=True)`) are visible to it. Import the fixtures into a test
module: `from tests.proxy.live_server import asgi_server, openai_client  # noqa: F401`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn

from autoskill_site.providers.upstream import upstream_aclose_all


class LiveASGIServer:
    """uvicorn on 127.0.0.1 and an ephemeral port; `url` has no trailing slash."""

    def __init__(self) -> None:
        from autoskill_site.asgi import application

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP, and with Nagle on every answer waited ~40 ms for a delayed ACK.
        self._socket = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            application,
            lifespan="off",
            http="h11",
            ws="none",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="asgi-live", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
        finally:
            self._started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        from proxy.openai_views import _background

        serving = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.01)
        self._started.set()
        await serving
        # Learning scheduled after the last replies finishes before the loop ends.
        await asyncio.gather(*list(_background), return_exceptions=True)
        await upstream_aclose_all()

    def start(self) -> LiveASGIServer:
        self._thread.start()
        self._started.wait(timeout=30)
        if self._error is not None or not self._server.started:
            raise RuntimeError(f"the ASGI server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[LiveASGIServer]:
    server = LiveASGIServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_client() -> Iterator[httpx2.Client]:
    """A plain HTTP client for raw-protocol checks (no SDK validation in between)."""
    with httpx2.Client(trust_env=False, timeout=30) as client:
        yield client


def sdk_client(server: LiveASGIServer, api_key: str):  # noqa: ANN201
    """The official OpenAI SDK pointed at the live server; its retries off."""
    from openai import OpenAI

    return OpenAI(
        base_url=f"{server.url}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=30,
        http_client=httpx2.Client(trust_env=False, timeout=30),
    )


def use_fake_upstream(settings, fake_openai, *, top_k: int):
    """Make the fake OpenAI server the configured upstream (provider `generic`)."""
    settings.AUTOSKILL_LLM_PROVIDER = "generic"
    settings.AUTOSKILL_LLM_ENV = {
        **settings.AUTOSKILL_LLM_ENV,
        "AUTOSKILL_GENERIC_LLM_URL": fake_openai.base_url,
        "AUTOSKILL_GENERIC_LLM_MODEL": "fake-chat",
    }
    # No rewrite call may consume the fake's scripted chat answers.
    settings.AUTOSKILL_REWRITE_MODE = "never"
    settings.AUTOSKILL_LLM_RETRIES = 0
    # Every skill of the caller is a hit, so a leak could not hide behind a threshold.
    settings.AUTOSKILL_MIN_SCORE = 0.0
    settings.AUTOSKILL_TOP_K = top_k
    return fake_openai


@pytest.fixture
def upstream(settings, fake_openai):  # noqa: ANN001, ANN201
    """The fake OpenAI server as the configured upstream (provider `generic`)."""
    return use_fake_upstream(settings, fake_openai, top_k=3)


@pytest.fixture
def alice_key(user) -> str:  # noqa: ANN001
    from proxy.auth import api_key_create

    return api_key_create(owner=user).secret


@pytest.fixture
def openai_client(asgi_server, alice_key):  # noqa: ANN001, ANN201
    """The SDK as alice."""
    client = sdk_client(asgi_server, alice_key)
    try:
        yield client
    finally:
        client.close()
