"""Skills, their immutable versions, bundled files, libraries and usage counters."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from skills.validators import (
    validate_library_slug,
    validate_resource_path,
    validate_skill_name,
)

LIVE = ~Q(status="archived")


class Library(models.Model):
    """A shared skill collection, read-only for everyone but curators."""

    slug = models.CharField(
        max_length=64, unique=True, validators=[validate_library_slug]
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "libraries"
        constraints = [
            models.CheckConstraint(
                condition=~Q(slug=""), name="library_slug_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.slug


class SkillStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class VersionOrigin(models.TextChoices):
    EXTRACTION = "extraction", "Extraction"
    MERGE = "merge", "Merge"
    MANUAL = "manual", "Manual edit"
    IMPORT = "import", "Import"
    ROLLBACK = "rollback", "Rollback"
    PROMOTION = "promotion", "Promotion"
    STATUS = "status", "Status change"


class Skill(models.Model):
    """The current state of one skill, owned by a user or by a library (never both).

    Every change goes through `skills.services`, which also writes a SkillVersion; the
    row itself is the fast read model used by retrieval and the mirror.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="skills",
    )
    library = models.ForeignKey(
        Library, null=True, blank=True, on_delete=models.PROTECT, related_name="skills"
    )
    name = models.CharField(
        max_length=64,
        validators=[validate_skill_name],
        help_text="Spec slug: lowercase letters, digits and hyphens; equals the folder name.",
    )
    title = models.CharField(max_length=300)
    description = models.TextField()
    instructions = models.TextField(blank=True)
    triggers = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    examples = models.JSONField(default=list, blank=True)
    version = models.CharField(max_length=64, default="0.1.0")
    status = models.CharField(
        max_length=16, choices=SkillStatus.choices, default=SkillStatus.ACTIVE
    )
    identity_key = models.CharField(
        max_length=80,
        help_text="Hash of the normalised description; unique per owner among live skills.",
    )
    confidence = models.FloatField(null=True, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text="Extra frontmatter (license, compatibility, ...).",
    )
    content_hash = models.CharField(max_length=64, blank=True)
    version_number = models.PositiveIntegerField(
        default=0,
        help_text="Number of the latest SkillVersion; allocated under a lock.",
    )
    mirror_path = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        # Curator powers beyond editing one skill, granted separately in the admin.
        permissions = [
            ("merge_skill", "Can merge skills into one"),
            ("promote_skill", "Can promote user skills into a library"),
        ]
        indexes = [
            models.Index(fields=["owner", "status"], name="skill_owner_status"),
            models.Index(fields=["library", "status"], name="skill_library_status"),
            models.Index(fields=["identity_key"], name="skill_identity_key"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner__isnull=False) & Q(library__isnull=True))
                | (Q(owner__isnull=True) & Q(library__isnull=False)),
                name="skill_owner_xor_library",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SkillStatus.values), name="skill_status_valid"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="skill_name_not_empty"),
            models.CheckConstraint(
                condition=~Q(identity_key=""), name="skill_identity_not_empty"
            ),
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(owner__isnull=False),
                name="skill_unique_name_per_owner",
            ),
            models.UniqueConstraint(
                fields=["library", "name"],
                condition=Q(library__isnull=False),
                name="skill_unique_name_per_library",
            ),
            models.UniqueConstraint(
                fields=["owner", "identity_key"],
                condition=Q(owner__isnull=False) & LIVE,
                name="skill_unique_live_identity_per_owner",
            ),
            models.UniqueConstraint(
                fields=["library", "identity_key"],
                condition=Q(library__isnull=False) & LIVE,
                name="skill_unique_live_identity_per_library",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.name} v{self.version})"

    @property
    def is_library_skill(self) -> bool:
        return self.library_id is not None


class DraftManager(models.Manager):
    """Only draft skills; the review queue is exactly these."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(status=SkillStatus.DRAFT)


class SkillDraft(Skill):
    """Skills waiting for a curator: the admin's review queue (status draft only)."""

    objects = DraftManager()

    class Meta:
        proxy = True
        verbose_name = "skill draft"
        verbose_name_plural = "review queue"


class SkillVersion(models.Model):
    """An immutable full snapshot of a skill, written on every change.

    Numbers are monotonic per skill; a rollback is a new version equal to an old one,
    so history is never rewritten.
    """

    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    version = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    description = models.TextField()
    instructions = models.TextField(blank=True)
    triggers = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    examples = models.JSONField(default=list)
    metadata = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=SkillStatus.choices)
    owner_label = models.CharField(
        max_length=200,
        help_text="Who owned the skill at this version (user or library).",
    )
    files = models.JSONField(
        default=dict, help_text="Resource manifest: path -> sha256."
    )
    skill_md = models.TextField()
    content_hash = models.CharField(max_length=64)
    origin = models.CharField(max_length=16, choices=VersionOrigin.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    # A plain UUID, not a foreign key: skills sits below extraction and must not
    # depend on it; the job row may also be pruned while the version stays.
    job_id = models.UUIDField(
        null=True, blank=True, help_text="Extraction job that wrote this version."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["skill", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["skill", "number"], name="skillversion_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1), name="skillversion_number_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.number} (v{self.version}, {self.origin})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError(
                "SkillVersion rows are immutable; write a new version instead."
            )
        super().save(*args, **kwargs)


class FileBlob(models.Model):
    """Content-addressed bytes of a bundled file, shared by every version that uses it."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sha256"]
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gte=0), name="fileblob_size_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"


class SkillFile(models.Model):
    """A resource bundled with the current state of a skill (scripts/, references/, assets/)."""

    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=500, validators=[validate_resource_path])
    blob = models.ForeignKey(FileBlob, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["skill", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["skill", "path"], name="skillfile_unique_path"
            ),
            models.CheckConstraint(
                condition=Q(path__startswith="scripts/")
                | Q(path__startswith="references/")
                | Q(path__startswith="assets/"),
                name="skillfile_path_root",
            ),
        ]

    def __str__(self) -> str:
        return self.path


class SkillUsage(models.Model):
    """Per (user, skill) retrieval audit counters that drive stale-skill pruning."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skill_usage"
    )
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="usage")
    retrieved = models.PositiveIntegerField(default=0)
    relevant = models.PositiveIntegerField(default=0)
    used = models.PositiveIntegerField(default=0)
    last_retrieved_at = models.DateTimeField(null=True, blank=True)
    last_relevant_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    recent_queries = models.JSONField(
        default=dict,
        blank=True,
        help_text="query key -> epoch ms, for the de-duplication window.",
    )
    judged = models.PositiveIntegerField(
        default=0, help_text="Retrievals whose relevant/used verdict came from a judge."
    )
    last_judge = models.CharField(
        max_length=16, blank=True, help_text="Who judged last: 'llm' or 'heuristic'."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "-retrieved"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "skill"], name="skillusage_unique_user_skill"
            ),
            models.CheckConstraint(
                condition=Q(relevant__lte=F("retrieved")),
                name="skillusage_relevant_le_retrieved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.skill_id} r={self.retrieved} u={self.used}"
