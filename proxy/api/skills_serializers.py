"""Input and output serializers of the skill endpoints (also the OpenAPI schema).

Output serializers render model rows directly, so the documented shape and the
returned shape cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from proxy.api.skills_common import can_write, etag_of, unified_diff
from skills.models import SkillStatus, VersionOrigin

MAX_QUERY_TEXT = 200


class ConstField(serializers.Field):
    """A fixed string such as `"object": "skill"`."""

    def __init__(self, value: str, **kwargs: Any) -> None:
        self.value = value
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)
        # A pattern, not a one-value enum: enum post-processing would turn every
        # constant into a separately named (and colliding) enum component.
        extend_schema_field(
            {"type": "string", "pattern": f"^{re.escape(value)}$", "example": value}
        )(self)

    def to_representation(self, value: Any) -> str:
        return self.value


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of converting them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ExampleSerializer(serializers.Serializer):
    input = serializers.CharField()
    output = serializers.CharField(required=False)
    notes = serializers.CharField(required=False)


class SkillSummarySerializer(serializers.Serializer):
    """One skill in a list: enough to show and choose it, without the prompt body."""

    id = serializers.UUIDField()
    object = ConstField("skill")
    name = serializers.CharField(help_text="Spec slug; equals the folder name.")
    title = serializers.CharField()
    description = serializers.CharField()
    version = serializers.CharField(help_text="Semantic version string.")
    version_number = serializers.IntegerField(
        help_text="Number of the latest stored version (monotonic)."
    )
    status = serializers.ChoiceField(choices=SkillStatus.choices)
    owner = serializers.SerializerMethodField()
    library = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()
    tags = serializers.ListField(child=serializers.CharField())
    triggers = serializers.ListField(child=serializers.CharField())
    resource_paths = serializers.SerializerMethodField()
    read_only = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_owner(self, skill: Any) -> str | None:
        return skill.owner.get_username() if skill.owner_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_library(self, skill: Any) -> str | None:
        return skill.library.slug if skill.library_id else None

    @extend_schema_field(serializers.CharField(help_text="user or library:<slug>"))
    def get_source(self, skill: Any) -> str:
        return f"library:{skill.library.slug}" if skill.library_id else "user"

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_resource_paths(self, skill: Any) -> list[str]:
        return sorted(file.path for file in skill.files.all())

    @extend_schema_field(
        serializers.BooleanField(help_text="True when the caller cannot change it.")
    )
    def get_read_only(self, skill: Any) -> bool:
        return not can_write(self.context["user"], skill)


class ContextSkillMdField(serializers.CharField):
    """The SKILL.md the view put in the context; absent from the output when None."""

    def get_attribute(self, instance: Any) -> str | None:
        return self.context.get("skill_md")


class SkillDetailSerializer(SkillSummarySerializer):
    """A whole skill; `skill_md` only when asked for (include_md=1, and on writes)."""

    instructions = serializers.CharField()
    examples = ExampleSerializer(many=True)
    metadata = serializers.DictField()
    provenance = serializers.DictField()
    confidence = serializers.FloatField(allow_null=True)
    content_hash = serializers.CharField()
    etag = serializers.SerializerMethodField()
    skill_md = ContextSkillMdField(
        required=False, help_text="Current SKILL.md (include_md=1, and on writes)."
    )

    @extend_schema_field(serializers.CharField(help_text="ETag of GET .../md."))
    def get_etag(self, skill: Any) -> str:
        return etag_of(skill)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("skill_md") is None:
            data.pop("skill_md")
        return data


class SkillEnvelopeSerializer(serializers.Serializer):
    """`{"object": "skill", "data": {...}}`, the original API's shape."""

    object = ConstField("skill")
    data = SkillDetailSerializer()


class SkillWriteResultSerializer(SkillEnvelopeSerializer):
    changed = serializers.BooleanField(
        help_text="False when the submitted content equals the current version."
    )


class RestoredFromSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    version = serializers.CharField()


class RollbackResultSerializer(SkillWriteResultSerializer):
    restored_from = RestoredFromSerializer()


class SkillDeletedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    object = ConstField("skill.deleted")
    deleted = serializers.BooleanField()
    skill_id = serializers.UUIDField(help_text="Same as id (the original API's key).")
    ok = serializers.BooleanField()


class SkillMdSerializer(serializers.Serializer):
    """GET .../md with `Accept: application/json`."""

    object = ConstField("skill_md")
    skill_id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.CharField()
    version_number = serializers.IntegerField()
    etag = serializers.CharField()
    skill_md = serializers.CharField()


class SkillMdInputSerializer(serializers.Serializer):
    """PUT .../md as JSON; a text/markdown body is the SKILL.md itself."""

    skill_md = StrictCharField(
        trim_whitespace=False,
        help_text="The SKILL.md text (`md` is accepted as an alias).",
    )
    version_number = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The version you edited; a newer current version answers 409.",
    )
    user = serializers.CharField(
        required=False, max_length=200, help_text="Sub-user (service keys only)."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # The original API's `md` alias stays accepted, though only skill_md is documented.
        if hasattr(data, "get") and "skill_md" not in data and "md" in data:
            data = {**data, "skill_md": data["md"]}
        return super().to_internal_value(data)


class RollbackInputSerializer(serializers.Serializer):
    to_number = serializers.IntegerField(
        min_value=1, help_text="Version number to restore (see .../versions)."
    )
    version_number = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Expected current version number; a different one answers 409.",
    )
    reason = serializers.CharField(required=False, max_length=2000, allow_blank=True)
    user = serializers.CharField(
        required=False, max_length=200, help_text="Sub-user (service keys only)."
    )


class SkillVersionSerializer(serializers.Serializer):
    """One immutable version with its SKILL.md and a diff against the one before."""

    object = ConstField("skill.version")
    number = serializers.IntegerField()
    version = serializers.CharField()
    is_current = serializers.SerializerMethodField()
    origin = serializers.ChoiceField(choices=VersionOrigin.choices)
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=SkillStatus.choices)
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    owner = serializers.CharField(source="owner_label")
    author = serializers.SerializerMethodField()
    job_id = serializers.UUIDField(allow_null=True)
    content_hash = serializers.CharField()
    resource_paths = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    skill_md = serializers.CharField()
    diff = serializers.SerializerMethodField()

    @extend_schema_field(serializers.BooleanField())
    def get_is_current(self, version: Any) -> bool:
        return version.number == self.context["current_number"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_author(self, version: Any) -> str | None:
        return version.author.get_username() if version.author_id else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_resource_paths(self, version: Any) -> list[str]:
        return sorted(version.files)

    @extend_schema_field(
        serializers.CharField(
            help_text="Unified diff of SKILL.md against the previous version "
            "(against nothing for version 1)."
        )
    )
    def get_diff(self, version: Any) -> str:
        return unified_diff(
            before=version.previous_md or "",
            after=version.skill_md,
            before_label=f"#{version.previous_number or 0}/SKILL.md",
            after_label=f"#{version.number}/SKILL.md",
        )


class SkillListQuerySerializer(serializers.Serializer):
    """Filters of GET /skills (all optional; they combine with AND).

    An empty value means "no filter", as DRF reads blank query values as absent.
    """

    scope = serializers.ChoiceField(
        choices=["user", "library", "all", "common", "shared", "libraries"],
        required=False,
        allow_blank=True,
        help_text="user (default): your skills; library: shared libraries; all: both.",
    )
    library = serializers.SlugField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="Only this library's skills.",
    )
    tag = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_QUERY_TEXT,
        help_text="Exact tag, any case.",
    )
    status = serializers.ChoiceField(
        choices=[*SkillStatus.values, "live", "any"],
        required=False,
        allow_blank=True,
        help_text="live (default: draft + active), draft, active, archived or any.",
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_QUERY_TEXT,
        help_text="Text contained in the name, title or description.",
    )


class SkillImportInputSerializer(serializers.Serializer):
    """multipart/form-data upload of a .zip of skill folders or one SKILL.md."""

    file = serializers.FileField(help_text="A .zip archive or a SKILL.md file.")
    overwrite = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Replace skills imported earlier from the same path with new content.",
    )
    include_files = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Import bundled scripts/, references/ and assets/ files.",
    )
    library = serializers.SlugField(
        required=False, max_length=64, help_text="Import into this library (staff)."
    )


class ImportIssueSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Path inside the upload.")
    message = serializers.CharField()


class SkillImportResultSerializer(serializers.Serializer):
    object = ConstField("skill_import")
    ok = serializers.BooleanField()
    imported_count = serializers.IntegerField(help_text="Created plus updated.")
    created = serializers.ListField(child=serializers.UUIDField())
    updated = serializers.ListField(child=serializers.UUIDField())
    unchanged = serializers.ListField(child=serializers.UUIDField())
    skipped = ImportIssueSerializer(many=True)
    errors = ImportIssueSerializer(many=True)
    notes = ImportIssueSerializer(many=True)
    data = SkillSummarySerializer(many=True)
