"""Input clean-up shared by every app."""

from __future__ import annotations

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
