"""What every skill endpoint shares: authentication, owner checks, ETags, limits, docs.

The visibility rule and the reads behind it live in `skills.selectors` (the browser
pages and chat commands apply the same rule); they are re-exported here so the
endpoints keep one import. Another user's skill answers 404, exactly like an id that
does not exist, so ids of other people's skills cannot be probed.
"""

from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, renderers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from autoskill_site.exceptions import InvalidInput
from proxy.authentication import API_AUTHENTICATION
from skills.models import Skill
from skills.selectors import (
    can_write,
    current_skill_md,
    parse_skill_id,
    skill_for_read,
    skill_for_write,
    unified_diff,
    visible_skills,
)

__all__ = [
    "IF_MATCH",
    "IF_MATCH_SYNTAX",
    "JSON",
    "MARKDOWN",
    "LenientNegotiation",
    "PayloadTooLarge",
    "PreconditionFailed",
    "SkillApiView",
    "can_write",
    "check_content_length",
    "check_if_match",
    "current_skill_md",
    "error_responses",
    "etag_of",
    "etag_matches",
    "parse_skill_id",
    "setting",
    "skill_for_read",
    "skill_for_write",
    "unified_diff",
    "visible_skills",
]

JSON = "application/json"
MARKDOWN = "text/markdown"

_ERROR_SCHEMA = {"$ref": "#/components/schemas/OpenAIError"}
_ERROR_TEXT = {
    400: "Invalid input: malformed id, bad parameter or unusable SKILL.md / upload.",
    401: "Missing or wrong API key (or no browser session).",
    403: "Library skills are read-only for non-staff; CSRF failure for sessions.",
    404: "No such skill, or not yours.",
    409: "The skill changed since the version you edited, or a name/description clash.",
    412: "If-Match does not match the skill's current ETag.",
    413: "The body or upload is larger than allowed.",
    415: "Unsupported Content-Type.",
}


# An ETag this API issues, or `*`; anything else can never match, so it is a 400.
_ETAG = r'"v[0-9]+-[0-9a-f]{1,64}"'
IF_MATCH_SYNTAX = re.compile(rf"^(\*|{_ETAG}(, *{_ETAG})*)$")
IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": IF_MATCH_SYNTAX.pattern},
    OpenApiParameter.HEADER,
    required=False,
    description="ETag from GET .../md; a different current ETag answers 412.",
)


def error_responses(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """`extend_schema(responses=...)` entries: errors are always OpenAI JSON envelopes."""
    return {
        (status, JSON): OpenApiResponse(
            response=_ERROR_SCHEMA, description=_ERROR_TEXT.get(status, "Error.")
        )
        for status in statuses
    }


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The skill changed: If-Match does not match its current ETag."
    default_code = "precondition_failed"


class _NoFormatOverride:
    URL_FORMAT_OVERRIDE = None


class LenientNegotiation(DefaultContentNegotiation):
    """Ignore DRF's `?format=` override and never answer 406.

    `format` is a real parameter of the export endpoint (md|zip), which DRF would
    otherwise read as a renderer name and answer 404; and a client that asks for a
    media type we do not produce still gets the JSON (or Markdown) we have, which is
    what OpenAI-style clients expect.
    """

    settings = _NoFormatOverride()

    def select_renderer(self, request, renderers, format_suffix=None):  # noqa: ANN001, ANN201
        try:
            return super().select_renderer(request, renderers, format_suffix=None)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


class SkillApiView(APIView):
    """Base of the skill endpoints: key or session auth, lenient negotiation, JSON errors."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    content_negotiation_class = LenientNegotiation

    def handle_exception(self, exc: Exception):  # noqa: ANN201
        response = super().handle_exception(exc)
        # Errors are JSON envelopes whatever representation the success would have had.
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = JSON
        return response


def setting(name: str, default: int) -> int:
    """Limits read lazily, so tests and deployments can change them."""
    return int(getattr(settings, name, default))


def check_content_length(
    request: Request, *, limit: int, what: str, slack: int = 0
) -> None:
    """Refuse an oversized body before reading it (`slack`: envelope overhead)."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        length = 0
    if length > limit + slack:
        raise PayloadTooLarge(f"{what} is {length} bytes; the limit is {limit}.")


def etag_of(skill: Skill) -> str:
    """Strong ETag: the version number (what conflicts are decided on) plus the content."""
    return f'"v{skill.version_number}-{skill.content_hash[:20]}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 strong comparison against a list such as `"a", "b"` or `*`."""
    if header is None:
        return False
    candidates = [part.strip() for part in header.split(",")]
    return "*" in candidates or etag in candidates


def check_if_match(request: Request, skill: Skill) -> None:
    header = (request.headers.get("If-Match") or "").strip()
    if header and not IF_MATCH_SYNTAX.match(header):
        raise InvalidInput(
            f"If-Match {header[:100]} is not an ETag of this API (like "
            '"v3-0123abcd...") or *; take it from the ETag header of GET .../md.'
        )
    if header and not etag_matches(header, etag_of(skill)):
        raise PreconditionFailed(
            f"If-Match {header[:100]} does not match the current ETag {etag_of(skill)} "
            f"(version #{skill.version_number}); reload and apply your edit again."
        )
