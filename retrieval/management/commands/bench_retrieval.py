"""python manage.py bench_retrieval BENCH_DIR [--embeddings local|hashing|openai|none] [--synthetic N]

Runs in a scratch SQLite database and SkillBank (a child process), never the real one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from tqdm import tqdm

SCRATCH_FLAG = "--scratch-child"


class Command(BaseCommand):
    help = "Measure skill retrieval on a benchmark folder (R@k, MRR, latency) against plain BM25."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "bench_dir", nargs="?", help="folder with skills/ and queries.jsonl"
        )
        parser.add_argument(
            "--embeddings",
            default=None,
            help="local (default setting), hashing, openai or none (BM25 only)",
        )
        parser.add_argument("--limit-queries", type=int, default=0)
        parser.add_argument(
            "--synthetic",
            type=int,
            default=0,
            help="instead: N synthetic skills with synthetic vectors (latency, memory)",
        )
        parser.add_argument(
            SCRATCH_FLAG,
            action="store_true",
            help="internal: already in the scratch DB",
        )

    def handle(self, *args, **options) -> None:
        if options["synthetic"]:
            from retrieval.synthetic import run_synthetic

            self.stdout.write(run_synthetic(options["synthetic"]))
            return
        bench = Path(options["bench_dir"] or "").expanduser()
        if not (bench / "skills").is_dir() or not (bench / "queries.jsonl").is_file():
            raise CommandError(
                f"{bench} needs skills/ and queries.jsonl (see shared/bench/README.md)."
            )
        if not options["scratch_child"]:
            self._run_in_scratch(bench.resolve(), options)
            return
        self._bench(bench, options)

    def _run_in_scratch(self, bench: Path, options: dict) -> None:
        with tempfile.TemporaryDirectory(prefix="autoskill-bench-") as tmp:
            env = {
                **os.environ,
                "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "AUTOSKILL_STORE_DIR": f"{tmp}/SkillBank",
                "AUTOSKILL_MIRROR_ENABLED": "0",
                "AUTOSKILL_EMBEDDINGS_SYNC": "1",
                "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1"),
                "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive"),
            }
            if options["embeddings"]:
                env["AUTOSKILL_EMBEDDINGS_PROVIDER"] = options["embeddings"]
            command = [
                sys.executable,
                "manage.py",
                "bench_retrieval",
                str(bench),
                SCRATCH_FLAG,
            ]
            if options["limit_queries"]:
                command += ["--limit-queries", str(options["limit_queries"])]
            completed = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
                command, cwd=settings.BASE_DIR, env=env, check=False
            )
            if completed.returncode:
                raise CommandError(
                    f"The benchmark run failed (exit {completed.returncode})."
                )

    def _bench(self, bench: Path, options: dict) -> None:
        from django.contrib.auth import get_user_model

        from autoskill_site.providers.embeddings import embedder_from_settings
        from retrieval.benchmark import (
            baseline_text,
            evaluate,
            format_table,
            load_queries,
            plain_bm25_ranker,
            service_ranker,
        )
        from retrieval.embeddings import embeddings_refresh
        from retrieval.index import index_cache
        from skills.importer import (
            ImportOptions,
            ImportReport,
            Target,
            import_folders,
            plan_tree,
        )
        from skills.models import Skill
        from skills.services import library_get_or_create

        call_command("migrate", verbosity=0)
        queries = load_queries(bench)
        if options["limit_queries"]:
            queries = queries[: options["limit_queries"]]
        embedder = embedder_from_settings()
        provider = settings.AUTOSKILL_EMBEDDINGS_PROVIDER
        self.stdout.write(
            f"Bench {bench.name}: {len(queries)} queries; embeddings: {provider}"
        )

        started = time.perf_counter()
        library = library_get_or_create(slug="bench")
        plan = plan_tree(bench / "skills", target=Target(library=library), max_depth=6)
        # Embed once, below, with a progress bar, instead of inline during the import.
        with (
            override_settings(AUTOSKILL_EMBEDDINGS_PROVIDER="none"),
            self._bar(len(plan), "import") as bar,
        ):
            report = import_folders(
                plan,
                options=ImportOptions(keep_ids=True),
                report=ImportReport(),
                progress=bar.update,
            )
        imported = time.perf_counter() - started
        embed_seconds = 0.0
        if embedder is not None:
            started_embed = time.perf_counter()
            with self._bar(len(plan), "embed") as bar:
                embeddings_refresh(embedder=embedder, progress=bar.update)
            embed_seconds = time.perf_counter() - started_embed
        user, _ = get_user_model().objects.get_or_create(username="bench-user")
        started_index = time.perf_counter()
        index_cache.clear()
        index_cache.get(
            [f"user:{user.pk}", "libraries"],
            signature=embedder.signature if embedder else "",
        )
        index_seconds = time.perf_counter() - started_index
        ours = evaluate(
            "AutoSkill Studio", queries, service_ranker(user=user, embedder=embedder)
        )
        ours.build_s = imported + embed_seconds + index_seconds

        docs = [
            (
                str(row["id"]),
                baseline_text(
                    title=row["title"],
                    description=row["description"],
                    triggers=row["triggers"],
                    tags=row["tags"],
                    instructions=row["instructions"],
                ),
            )
            for row in Skill.objects.values(
                "id", "title", "description", "triggers", "tags", "instructions"
            )
        ]
        ranker, build = plain_bm25_ranker(docs)
        baseline = evaluate("plain BM25 (bm25s)", queries, ranker)
        baseline.build_s = build
        self.stdout.write(
            f"{len(report.created)} skills imported in {imported:.1f}s, embedded in {embed_seconds:.1f}s, "
            f"indexed in {index_seconds:.2f}s ({len(report.errors)} import errors)"
        )
        self.stdout.write(format_table([ours, baseline]))

    def _bar(self, total: int, label: str) -> tqdm:
        return tqdm(
            total=total, desc=label, unit="skill", file=sys.stderr, disable=None
        )
