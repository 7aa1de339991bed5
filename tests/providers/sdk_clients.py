"""Building SDK chat clients against the loopback fake, for the provider tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from autoskill_site.providers.sdk_chat import SDKChatClient

# The key every client sends; tests assert it never reaches an error message.
KEY = "sk-test-SECRET-0123456789"
USER = [{"role": "user", "content": "Summarise the release notes."}]
# Tiny backoff keeps retry tests fast; the timeout is generous for a loaded machine.
FAST = {"backoff": 0.001, "max_backoff": 0.01, "timeout": 5.0}


@contextmanager
def built_clients(
    cls: type[SDKChatClient], **defaults: Any
) -> Iterator[Callable[..., Any]]:
    """A builder of `cls(**defaults, **options)`; every client it made is closed on exit."""
    made: list[SDKChatClient] = []

    def build(**options: Any) -> Any:
        client = cls(**{**FAST, **defaults, **options})
        made.append(client)
        return client

    try:
        yield build
    finally:
        for client in made:
            client.close()
