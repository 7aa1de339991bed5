"""Turn an LLM client into the plain callables the rewriter and the selector take.

``rewrite_query`` and ``select_skills`` stay free of providers: they receive a
callable and run it under their own hard timeout. This module is the one place
that knows how a rewrite or a selection is asked of a model (which prompt, which
purpose, temperature 0, JSON mode for selection). The offline heuristic provider
gets no callable at all, because it cannot answer these prompts and must never be
sent JSON prompts; callers then take their documented no-model paths.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from autoskill_site.providers.llm import LLMClient, LLMPurpose
from retrieval.rewrite import rewrite_prompt

__all__ = [
    "default_rewriter",
    "default_selector",
    "llm_for",
    "llm_usable",
    "rewriter_for",
    "selector_for",
]

Rewriter = Callable[[str, list[dict]], str]
Selector = Callable[[list[dict]], str]

DEFAULT_REWRITE_TIMEOUT = 3.0
DEFAULT_SELECTION_TIMEOUT = 5.0


def llm_usable(client: LLMClient | None) -> bool:
    """A client that can answer prompts: present and not the offline heuristic."""
    return client is not None and not getattr(client, "offline", False)


def _asker(
    client: LLMClient,
    *,
    json_mode: bool,
    timeout: float | None,
    setting: str,
    default: float,
) -> Callable[[list[dict]], str]:
    """``messages -> reply text`` at temperature 0.

    The HTTP timeout is ``timeout``, else ``setting`` read at call time, so the
    worker thread a caller's deadline abandons ends soon after it.
    """

    def ask(messages: list[dict]) -> str:
        seconds = (
            timeout if timeout is not None else getattr(settings, setting, default)
        )
        reply = client.complete(
            messages, temperature=0.0, json_mode=json_mode, timeout=float(seconds)
        )
        return reply.text

    return ask


def rewriter_for(
    client: LLMClient | None, *, timeout: float | None = None
) -> Rewriter | None:
    """A ``rewriter(query, turns) -> str`` backed by ``client``; None when offline.

    ``timeout`` bounds the HTTP call (default ``AUTOSKILL_REWRITE_TIMEOUT``, read
    at call time); ``rewrite_query`` applies its own deadline on top.
    """
    if client is None or not llm_usable(client):
        return None
    ask = _asker(
        client,
        json_mode=False,
        timeout=timeout,
        setting="AUTOSKILL_REWRITE_TIMEOUT",
        default=DEFAULT_REWRITE_TIMEOUT,
    )
    return lambda query, turns: ask(rewrite_prompt(query, turns))


def selector_for(
    client: LLMClient | None, *, timeout: float | None = None
) -> Selector | None:
    """A ``selector(messages) -> str`` asking ``client`` for JSON; None when offline.

    ``select_skills`` builds the messages with ``selection_prompt``; the timeout
    defaults to ``AUTOSKILL_SELECTION_TIMEOUT`` (5 s when unset).
    """
    if client is None or not llm_usable(client):
        return None
    return _asker(
        client,
        json_mode=True,
        timeout=timeout,
        setting="AUTOSKILL_SELECTION_TIMEOUT",
        default=DEFAULT_SELECTION_TIMEOUT,
    )


def llm_for(purpose: LLMPurpose) -> LLMClient:
    """The configured client for ``purpose``, read from settings at call time.

    ``llm_from_settings`` keeps one client per resolved configuration, so calling
    this per request costs a few attribute reads, and changed settings (tests)
    get a fresh client without any cache of this module's own.
    """
    # Imported here: the provider configuration pulls in vendor SDKs lazily too.
    from autoskill_site.providers.llm_config import llm_from_settings

    return llm_from_settings(purpose)


def default_rewriter() -> Rewriter | None:
    """The rewriter built from settings (purpose REWRITE), or None when offline."""
    return rewriter_for(llm_for(LLMPurpose.REWRITE))


def default_selector() -> Selector | None:
    """The selector built from settings (purpose SELECTION), or None when offline."""
    return selector_for(llm_for(LLMPurpose.SELECTION))
