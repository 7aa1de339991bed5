"""Markdown in and out: the SKILL.md renderer and the text body parsers."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import exceptions, parsers, renderers


class MarkdownRenderer(renderers.BaseRenderer):
    """Renders a `{"skill_md": ...}` payload as the bare SKILL.md text."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""  # 304 Not Modified and other bodiless answers
        if isinstance(data, dict) and isinstance(data.get("skill_md"), str):
            return data["skill_md"].encode("utf-8")
        # Not a SKILL.md payload (cannot happen for successes): never drop it silently.
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


class _TextParser(parsers.BaseParser):
    """The body as a str; only UTF-8 is accepted, so bytes are never guessed at."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> str:
        raw = stream.read() if stream is not None else b""
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(
                f"The body is not UTF-8 ({exc.reason} at byte {exc.start})."
            ) from exc


class MarkdownParser(_TextParser):
    media_type = "text/markdown"


class XMarkdownParser(_TextParser):
    media_type = "text/x-markdown"


class PlainTextParser(_TextParser):
    media_type = "text/plain"


TEXT_PARSERS = [MarkdownParser, XMarkdownParser, PlainTextParser]
