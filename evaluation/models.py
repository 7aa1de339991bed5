"""Stored evaluation runs: the report JSON of `manage.py evaluate --save` plus what lists it."""

from __future__ import annotations

from django.db import models


class EvaluationRun(models.Model):
    """One `evaluate` run against a server: its headline numbers and the full report.

    The report is kept whole (it is the artefact staff compare); the columns copy the
    few numbers the list page shows, so listing never parses every report.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    base_url = models.CharField(max_length=500)
    model = models.CharField(max_length=200, blank=True)
    seed = models.IntegerField()
    total_cases = models.PositiveIntegerField(default=0)
    sr_before = models.FloatField(null=True, blank=True)
    sr_after = models.FloatField(null=True, blank=True)
    report = models.JSONField()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk} of {self.base_url} ({self.total_cases} cases)"
