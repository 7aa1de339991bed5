"""GET /skills/<id>/export (md or a real zip) and POST /skills/import (upload)."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from autoskill_site.exceptions import Forbidden, InvalidInput
from proxy.api.skills import SKILL_ID_PARAMETER
from proxy.api.skills_common import (
    JSON,
    MARKDOWN,
    SkillApiView,
    check_content_length,
    current_skill_md,
    error_responses,
    etag_of,
    skill_for_read,
)
from proxy.api.skills_serializers import (
    SkillImportInputSerializer,
    SkillImportResultSerializer,
    SkillSummarySerializer,
)
from proxy.api.skills_upload import (
    SizeLimitedUploadHandler,
    UploadLimits,
    import_upload,
)
from skills.exporter import export_zip_spooled
from skills.importer import Target
from skills.models import Library, Skill

ZIP = "application/zip"
EXPORT_FORMATS = ("md", "zip")


class SkillExportApi(SkillApiView):
    """Download one skill: its SKILL.md, or a zip of its folder (SKILL.md + files)."""

    @extend_schema(
        operation_id="skills_export",
        summary="Export a skill",
        description=(
            "`format=md` (default): the SKILL.md as text/markdown. `format=zip`: an "
            "application/zip holding `<name>/SKILL.md` and the bundled scripts/, "
            "references/ and assets/ files; POST it to /skills/import to restore it."
        ),
        parameters=[
            SKILL_ID_PARAMETER,
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(EXPORT_FORMATS),
                description="md (default) or zip.",
            ),
        ],
        responses={
            (200, MARKDOWN): OpenApiResponse(
                response=OpenApiTypes.STR, description="format=md"
            ),
            (200, ZIP): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="format=zip"
            ),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request: Request, skill_id: str) -> HttpResponse:
        kind = (request.query_params.get("format") or "md").strip().lower()
        if kind in ("skill_md", "markdown"):
            kind = "md"  # the original API's spelling
        if kind not in EXPORT_FORMATS:
            raise serializers.ValidationError(
                {"format": f"Must be one of {', '.join(EXPORT_FORMATS)}; got {kind!r}."}
            )
        skill = skill_for_read(request.user, skill_id)
        if kind == "md":
            response = HttpResponse(
                current_skill_md(skill).encode("utf-8"),
                content_type=f"{MARKDOWN}; charset=utf-8",
            )
            response["Content-Disposition"] = content_disposition_header(
                as_attachment=True, filename=f"{skill.name}.md"
            )
        else:
            response = skill_zip_response(skill)
        response["ETag"] = etag_of(skill)
        response["Cache-Control"] = "private, no-cache"
        return response


def skill_zip_response(skill: Skill) -> FileResponse:
    """The skill's folder (`<name>/SKILL.md` + bundled files) as a zip download."""
    spool = export_zip_spooled(Skill.objects.filter(pk=skill.pk), flat=True)
    return FileResponse(
        spool, as_attachment=True, filename=f"{skill.name}.zip", content_type=ZIP
    )


class SkillImportApi(SkillApiView):
    """Upload skills: never a server path, always a checked archive or file."""

    parser_classes = [parsers.MultiPartParser]

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        # Before authentication: a service key's `user` field makes it read the body.
        limits = UploadLimits.from_settings()
        # The multipart envelope around the file is allowed a little room.
        check_content_length(
            request, limit=limits.upload_bytes, slack=64 * 1024, what="The upload"
        )
        request.upload_handlers.insert(
            0, SizeLimitedUploadHandler(request, limit=limits.upload_bytes)
        )
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="skills_import",
        summary="Import skills from an upload",
        description=(
            "multipart/form-data with `file`: a .zip of skill folders (each with a "
            "SKILL.md; a SKILL.md at the archive root is one skill) or a single "
            "SKILL.md. Archives are checked before anything is unpacked: absolute or "
            "`..` paths (zip-slip), symbolic links, encrypted or duplicate entries, "
            "too many entries and over-expanding entries (zip bombs) are refused. "
            "Re-uploading the same skill paths finds the same skills again."
        ),
        request={"multipart/form-data": SkillImportInputSerializer},
        responses={
            (201, JSON): OpenApiResponse(
                SkillImportResultSerializer, description="At least one skill created."
            ),
            (200, JSON): OpenApiResponse(
                SkillImportResultSerializer,
                description="Nothing new: skills updated, unchanged or skipped.",
            ),
            **error_responses(400, 401, 403, 413, 415),
        },
    )
    def post(self, request: Request) -> Response:
        body = SkillImportInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        args = body.validated_data
        outcome = import_upload(
            upload=args["file"],
            target=self._target(request, args.get("library")),
            overwrite=args["overwrite"],
            include_files=args["include_files"],
            limits=UploadLimits.from_settings(),
        )
        report = outcome.report
        touched = [*report.created, *report.updated, *report.unchanged]
        if not touched and report.errors:
            path, message = report.errors[0]
            raise InvalidInput(f"Nothing imported: {path}: {message}")
        skills = Skill.objects.filter(pk__in=touched).select_related("owner", "library")
        context = {"user": request.user}
        payload = {
            "object": "skill_import",
            "ok": not report.errors,
            "imported_count": len(report.created) + len(report.updated),
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": _issues(report.skipped),
            "errors": _issues(report.errors),
            "notes": _issues([*outcome.notes, *report.notes]),
            "data": [
                SkillSummarySerializer(skill, context=context).data
                for skill in skills.prefetch_related("files").order_by("name")
            ],
        }
        return Response(payload, status=201 if report.created else 200)

    def _target(self, request: Request, slug: str | None) -> Target:
        if not slug:
            return Target(owner=request.user)
        if not request.user.is_staff:
            raise Forbidden("Only curators (staff) may import into a library.")
        library = Library.objects.filter(slug=slug).first()
        if library is None:
            raise InvalidInput(f"No library {slug!r}.")
        return Target(library=library)


def _issues(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"path": path, "message": message} for path, message in items]
