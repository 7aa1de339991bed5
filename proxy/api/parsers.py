"""The REST API's JSON body parser: DRF's, bounded in nesting depth."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json as drf_json

from autoskill_site.sanitize import JSONRefused, json_loads_bounded

__all__ = ["JSONParser"]


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, except that absurd nesting is a 400 instead of a 500.

    DRF catches ValueError only; 100k levels of `[` make the decoder raise
    RecursionError, which reached the client as a server error. Depth is bounded
    as on the proxy's own endpoints (`autoskill_site.sanitize.MAX_JSON_DEPTH`).
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        raw = stream.read() if stream is not None else b""
        constant = drf_json.strict_constant if self.strict else None
        try:
            return json_loads_bounded(raw.decode(encoding), parse_constant=constant)
        except JSONRefused as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
