"""python manage.py refresh_embeddings [--all]: embed skills whose vectors are missing or stale."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from autoskill_site.providers.embeddings import EmbeddingError, embedder_from_settings
from retrieval.embedding_worker import discard_pending
from retrieval.embeddings import embeddings_refresh
from retrieval.models import SkillEmbedding
from skills.models import Skill, SkillStatus


class Command(BaseCommand):
    help = (
        "Compute missing or stale skill vectors for the configured embedding provider."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="recompute every vector, fresh or not"
        )

    def handle(self, *args, **options) -> None:
        embedder = embedder_from_settings()
        if embedder is None:
            raise CommandError(
                "AUTOSKILL_EMBEDDINGS_PROVIDER is 'none'; there is nothing to compute."
            )
        discard_pending()  # this run covers whatever the background worker had queued
        if options["all"]:
            SkillEmbedding.objects.filter(signature=embedder.signature).delete()
        total = Skill.objects.filter(status=SkillStatus.ACTIVE).count()
        started = time.perf_counter()
        try:
            with tqdm(total=total, unit="skill", file=sys.stderr, disable=None) as bar:
                report = embeddings_refresh(embedder=embedder, progress=bar.update)
        except EmbeddingError as exc:
            raise CommandError(f"Embedding failed: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.embedded} embedded, {report.fresh} already fresh ({report.signature}) "
                f"in {time.perf_counter() - started:.1f}s."
            )
        )
