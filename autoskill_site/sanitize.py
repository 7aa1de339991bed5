"""Input clean-up shared by every app."""

from __future__ import annotations

import json
import re
from typing import Any


def without_nul(value: Any) -> Any:
    """`value` with NUL characters removed from every string (keys included).

    PostgreSQL can store NUL neither in text nor in JSON, so it would turn a harmless
    byte into a server error; in a conversation or a skill it carries nothing.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


# Deeper than any real request (OpenAI tool schemas nest a few dozen levels), and far
# enough below Python's recursion limit that code walking the value cannot overflow.
MAX_JSON_DEPTH = 128
# A `\uD800`-`\uDFFF` escape: valid in JSON text, but alone it decodes to a lone
# surrogate, which is not Unicode text and cannot be encoded to UTF-8 (or stored).
_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\[uU][dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ValueError):
    """JSON that parses but cannot be used: nested deeper than MAX_JSON_DEPTH, or
    holding a lone surrogate. A ValueError, like any other bad JSON; the message
    says which."""


def json_problem(
    value: Any, *, limit: int = MAX_JSON_DEPTH, text: bool = True
) -> str | None:
    """Why decoded JSON `value` is unusable, or None: lists and objects nested more
    than `limit` levels, or (with `text`) a string that is not valid Unicode.

    Iterative, so the check itself cannot hit the recursion limit it guards.
    """
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if text and _LONE_SURROGATE.search(node):
                return (
                    "The JSON holds a lone UTF-16 surrogate escape (\\uD800-\\uDFFF "
                    "without its pair), which is not Unicode text."
                )
            continue
        if isinstance(node, dict):
            children: Any = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return _too_deep(limit)
        stack.extend((child, depth + 1) for child in children)
    return None


def json_loads_bounded(
    raw: str | bytes, *, limit: int = MAX_JSON_DEPTH, **options: Any
) -> Any:
    """`json.loads(raw, **options)`, refusing what later code would choke on (JSONRefused).

    Without it a body of a few hundred kilobytes of `[` makes the decoder (or a
    later recursive walk, such as `without_nul`) raise RecursionError, and a
    `"\\udcff"` string fails wherever it is encoded or stored: 500s instead of the
    caller's 400. Invalid UTF-8 raises UnicodeDecodeError, a ValueError too.
    """
    try:
        value = json.loads(raw, **options)
    except RecursionError:
        raise JSONRefused(_too_deep(limit)) from None
    if isinstance(raw, bytes):
        brackets = raw.count(b"[") + raw.count(b"{")
        escapes = _SURROGATE_ESCAPE_BYTES.search(raw) is not None
    else:
        brackets = raw.count("[") + raw.count("{")
        escapes = _SURROGATE_ESCAPE.search(raw) is not None
    # Most bodies skip the walk: fewer brackets than the limit cannot nest past it,
    # and without a surrogate escape every decoded string is valid Unicode.
    if brackets > limit or escapes:
        problem = json_problem(value, limit=limit, text=escapes)
        if problem:
            raise JSONRefused(problem)
    return value


def _too_deep(limit: int) -> str:
    return f"The JSON nests lists and objects more than {limit} levels deep."
