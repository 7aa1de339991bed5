"""GET and PUT /skills/<id>/md: the skill as one SKILL.md, with optimistic concurrency."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers
from rest_framework.request import Request
from rest_framework.response import Response

from autoskill_site.exceptions import InvalidInput
from proxy.api.parsers import JSONParser
from proxy.api.skills import SKILL_ID_PARAMETER, detail_payload
from proxy.api.skills_common import (
    IF_MATCH,
    JSON,
    MARKDOWN,
    PayloadTooLarge,
    SkillApiView,
    check_content_length,
    check_if_match,
    current_skill_md,
    error_responses,
    etag_of,
    setting,
    skill_for_read,
    skill_for_write,
)
from proxy.api.skills_formats import TEXT_PARSERS, MarkdownRenderer
from proxy.api.skills_serializers import (
    SkillMdInputSerializer,
    SkillMdSerializer,
    SkillWriteResultSerializer,
)
from skills.models import VersionOrigin
from skills.selectors import fields_from_skill_md
from skills.services import skill_update

__all__ = ["RequiredBodySchema", "SkillMdApi", "fields_from_skill_md", "skill_md_limit"]

TEXT_BODY = {"type": "string", "minLength": 1, "description": "The SKILL.md text."}
# The renderer is chosen by the Accept header only (LenientNegotiation ignores it).
NO_FORMAT = OpenApiParameter("format", exclude=True)


class RequiredBodySchema(AutoSchema):
    """PUT .../md always needs a body, but drf-spectacular marks text bodies optional."""

    def _get_request_body(self, direction: str = "request") -> dict | None:
        body = super()._get_request_body(direction)
        if body:
            body["required"] = True
        return body


def skill_md_limit() -> int:
    return setting("AUTOSKILL_MAX_FILE_BYTES", 1_000_000)


def _weak_match(header: str | None, etag: str) -> bool:
    """If-None-Match uses weak comparison: W/"x" matches "x"."""
    if header is None:
        return False
    tags = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in tags or etag in tags


class SkillMdApi(SkillApiView):
    """The SKILL.md of a skill: Markdown by default, JSON with `Accept: application/json`."""

    renderer_classes = [
        MarkdownRenderer,
        renderers.JSONRenderer,
        renderers.BrowsableAPIRenderer,
    ]
    parser_classes = [JSONParser, *TEXT_PARSERS]
    schema = RequiredBodySchema()

    @extend_schema(
        operation_id="skills_md_retrieve",
        summary="Get a skill's SKILL.md",
        description=(
            "text/markdown by default; `Accept: application/json` returns the original "
            "API's JSON object. The ETag changes with every version; send it back as "
            "If-Match on PUT, or as If-None-Match here (304 when unchanged)."
        ),
        parameters=[
            SKILL_ID_PARAMETER,
            NO_FORMAT,
            OpenApiParameter(
                "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER
            ),
        ],
        responses={
            (200, MARKDOWN): OpenApiResponse(
                response=OpenApiTypes.STR, description="The SKILL.md text."
            ),
            (200, JSON): SkillMdSerializer,
            (304, JSON): OpenApiResponse(description="Not modified (no body)."),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request: Request, skill_id: str) -> Response:
        skill = skill_for_read(request.user, skill_id)
        etag = etag_of(skill)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if _weak_match(request.headers.get("If-None-Match"), etag):
            return Response(status=304, headers=headers)
        payload = {
            "object": "skill_md",
            "skill_id": str(skill.pk),
            "name": skill.name,
            "version": skill.version,
            "version_number": skill.version_number,
            "etag": etag,
            "skill_md": current_skill_md(skill),
        }
        return Response(payload, headers=headers)

    @extend_schema(
        operation_id="skills_md_update",
        summary="Replace a skill's SKILL.md",
        description=(
            "The body is the SKILL.md (text/markdown or text/plain) or JSON "
            '`{"skill_md": ..., "version_number": N}`. Every field the file states '
            "replaces the stored one; bundled files stay. A changed skill whose "
            "`version` was left as it was gets its patch number bumped. Concurrency: "
            "If-Match (412 on mismatch) and/or version_number (409 on mismatch)."
        ),
        parameters=[SKILL_ID_PARAMETER, NO_FORMAT, IF_MATCH],
        request={
            JSON: SkillMdInputSerializer,
            MARKDOWN: TEXT_BODY,
            "text/plain": TEXT_BODY,
        },
        responses={
            (200, JSON): SkillWriteResultSerializer,
            **error_responses(400, 401, 403, 404, 409, 412, 413, 415),
        },
    )
    def put(self, request: Request, skill_id: str) -> Response:
        # Results are JSON whatever the Accept header says about Markdown.
        request.accepted_renderer = renderers.JSONRenderer()
        request.accepted_media_type = JSON
        limit = skill_md_limit()
        check_content_length(request, limit=limit, what="The SKILL.md body")
        text, expected = self._submitted(request)
        if len(text.encode("utf-8")) > limit:
            raise PayloadTooLarge(f"The SKILL.md is over the {limit} byte limit.")
        with transaction.atomic():
            skill = skill_for_write(request.user, skill_id)
            check_if_match(request, skill)
            fields = fields_from_skill_md(text, skill=skill)
            before = skill.version_number
            # The row is locked and If-Match was checked on it, so only a stale
            # version_number from the body can still conflict (409).
            updated = skill_update(
                skill_id=skill.pk,
                author=request.user,
                origin=VersionOrigin.MANUAL,
                reason="SKILL.md edited through the API",
                expected_version_number=expected,
                # An edit that keeps the version string is still a new release.
                bump=fields["version"] == skill.version,
                **fields,
            )
        payload = detail_payload(
            updated, user=request.user, skill_md=current_skill_md(updated)
        )
        payload["changed"] = updated.version_number != before
        return Response(payload, headers={"ETag": etag_of(updated)})

    def _submitted(self, request: Request) -> tuple[str, int | None]:
        data = request.data
        if isinstance(data, str) or not data:
            text = data if isinstance(data, str) else ""
            if not text.strip():
                raise InvalidInput(
                    "The body is empty; send the SKILL.md as text/markdown, or JSON "
                    '{"skill_md": "..."}.'
                )
            return text, None
        body = SkillMdInputSerializer(data=data)
        body.is_valid(raise_exception=True)
        return body.validated_data["skill_md"], body.validated_data.get(
            "version_number"
        )
