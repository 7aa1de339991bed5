"""What every skill endpoint shares: authentication, owner checks, ETags, limits, docs.

Visibility rule, applied to every read and write: a caller sees their own skills and
every library skill. Library skills are read-only unless the caller is staff. Another
user's skill answers 404, exactly like an id that does not exist, so ids of other
people's skills cannot be probed.
"""

from __future__ import annotations

import difflib
import re
import uuid
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, renderers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from autoskill_site.exceptions import Forbidden, InvalidInput, NotFound
from proxy.authentication import API_AUTHENTICATION
from skills.models import Skill, SkillVersion

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


def parse_skill_id(raw: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise InvalidInput(f"{str(raw)[:80]!r} is not a skill id (a UUID).") from exc


def visible_skills(user: Any) -> QuerySet[Skill]:
    """Every skill `user` may read: their own and all library skills."""
    return Skill.objects.filter(
        Q(owner_id=user.pk, library__isnull=True) | Q(library__isnull=False)
    )


def can_write(user: Any, skill: Skill) -> bool:
    if skill.library_id is not None:
        return bool(user.is_staff)
    return skill.owner_id == user.pk


def skill_for_read(user: Any, raw_id: object, *, lock: bool = False) -> Skill:
    """The skill if `user` may see it; 404 otherwise (existence never leaks)."""
    skill_id = parse_skill_id(raw_id)
    query = visible_skills(user).select_related("owner", "library")
    if lock:
        # of=("self",): the joined owner/library rows need no lock (PostgreSQL).
        query = query.select_for_update(of=("self",))
    skill = query.filter(pk=skill_id).first()
    if skill is None:
        raise NotFound(f"No skill with id {skill_id}.")
    return skill


def skill_for_write(user: Any, raw_id: object) -> Skill:
    """The locked skill if `user` may change it; call inside transaction.atomic()."""
    skill = skill_for_read(user, raw_id, lock=True)
    if not can_write(user, skill):
        raise Forbidden(
            f"Skill {skill.pk} belongs to library {skill.library.slug}; library skills "
            "are read-only (curators edit them)."
        )
    return skill


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


def current_skill_md(skill: Skill) -> str:
    """The SKILL.md of the skill's latest version (each version stores its rendering)."""
    text = (
        SkillVersion.objects.filter(skill_id=skill.pk, number=skill.version_number)
        .values_list("skill_md", flat=True)
        .first()
    )
    if text is None:
        raise NotFound(f"Skill {skill.pk} has no stored version.")
    return text


def unified_diff(
    *, before: str, after: str, before_label: str, after_label: str
) -> str:
    """A `diff -u` of two SKILL.md texts; empty when they are equal."""
    return "".join(
        difflib.unified_diff(
            _lines(before),
            _lines(after),
            fromfile=before_label,
            tofile=after_label,
        )
    )


def _lines(text: str) -> list[str]:
    # A last line without a newline would run into the next diff line.
    return (text if not text or text.endswith("\n") else text + "\n").splitlines(
        keepends=True
    )
