"""Stored embeddings and the change counters that keep in-process indexes fresh."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from skills.models import Skill


class SkillEmbedding(models.Model):
    """One skill's vector for one embedding signature (provider + model + dims).

    `content_hash` is the hash of the text the vector was computed from; a skill whose
    current embedding text hashes differently has a stale vector.
    """

    skill = models.ForeignKey(
        Skill, on_delete=models.CASCADE, related_name="embeddings"
    )
    signature = models.CharField(max_length=120)
    content_hash = models.CharField(max_length=64)
    dims = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="Little-endian float32, L2-normalised.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["skill", "signature"]
        constraints = [
            models.UniqueConstraint(
                fields=["skill", "signature"], name="skillembedding_unique_signature"
            ),
            models.CheckConstraint(
                condition=Q(dims__gt=0), name="skillembedding_dims_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.skill_id} @ {self.signature}"


class IndexGeneration(models.Model):
    """A counter per search scope, bumped on every change that affects it.

    Each process compares its in-memory index with this number instead of rebuilding
    on every query; a change made by another process shows up within the check interval.
    """

    scope = models.CharField(max_length=80, unique=True)
    generation = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope"]

    def __str__(self) -> str:
        return f"{self.scope}@{self.generation}"
