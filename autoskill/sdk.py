"""AutoSkill: the original's in-process SDK, over our services instead of a file store.

Construction sets Django up (see `bootstrap.django_ready`) and, when the database
is brand new, migrates it, so `AutoSkill(AutoSkillConfig(...))` in a fresh script
just works on the embedded default. An existing database with pending migrations is
never migrated behind the caller's back: call `AutoSkill.migrate()` (or
`manage.py migrate`) deliberately.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autoskill.bootstrap import (
    database_is_new,
    django_ready,
    migrate,
    pending_migrations,
)
from autoskill.config import AutoSkillConfig
from autoskill.context import render_hits
from autoskill.errors import AutoSkillError
from autoskill.types import Skill, SkillHit


@contextmanager
def _errors() -> Iterator[None]:
    """Service errors become AutoSkillError, the shape the HTTP client raises too."""
    from autoskill_site.exceptions import ApplicationError

    try:
        yield
    except ApplicationError as exc:
        raise AutoSkillError(exc.status, exc.code, exc.message) from exc


class AutoSkill:
    """Ingest, search, render, import and export skills inside this process.

    Every method takes `user_id` (default: `config.user_id`); users are created on
    first use. Results are frozen dataclasses from `autoskill.types`.
    """

    def __init__(self, config: AutoSkillConfig | None = None) -> None:
        self.config = config or AutoSkillConfig()
        self.configured_django = django_ready(self.config)
        if self.config.auto_migrate and database_is_new():
            migrate()
        missing = pending_migrations()
        if missing:
            raise AutoSkillError(
                409,
                "migrations_pending",
                f"The database has {len(missing)} unapplied migrations "
                f"(first: {missing[0]}); run AutoSkill.migrate() or manage.py migrate.",
            )

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> AutoSkill:
        return cls(AutoSkillConfig.from_dict(data))

    @staticmethod
    def migrate() -> None:
        """Apply every pending migration to the configured database."""
        migrate()

    # -- helpers -------------------------------------------------------------

    def _user(self, user_id: str | None) -> Any:
        from django.contrib.auth import get_user_model

        name = str(user_id or self.config.user_id).strip()
        if not name or name.lower().startswith("library:"):
            raise ValueError(f"user_id must name a user, got {user_id!r}.")
        user, created = get_user_model().objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user

    def _llm(self) -> Any:
        from autoskill_site.providers.llm_config import llm_from_settings

        provider = self.config.llm.get("provider")
        model = self.config.llm.get("model")
        return llm_from_settings(
            "extraction",
            provider=str(provider) if provider else None,
            model=str(model) if model else None,
        )

    # -- learning --------------------------------------------------------------

    def ingest(
        self,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        events: Sequence[Mapping[str, Any]] | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> list[Skill]:
        """Extract from one conversation now; the skills added or merged (0 or 1).

        Runs extraction synchronously through the same pipeline as the server. A
        window already processed for this user returns the skills it produced then.
        """
        from extraction.models import JobTrigger
        from extraction.services import extraction_ingest

        if not messages and not events:
            raise ValueError("ingest needs messages or events.")
        with _errors():
            result = extraction_ingest(
                user=self._user(user_id),
                messages=list(messages or []),
                events=list(events or []),
                hint=hint,
                trigger=JobTrigger.EXTRACT_NOW,
                source={"channel": "sdk", **dict(metadata or {})},
                llm=self._llm(),
            )
        if result.status == "failed" or result.outcome == "error":
            raise AutoSkillError(
                502, "extraction_failed", result.error or "Extraction failed."
            )
        return self._skills([s.get("id") for s in result.skills if s.get("id")])

    add = ingest

    def import_openai_conversations(
        self,
        *,
        user_id: str | None = None,
        data: Any = None,
        file_path: str | Path = "",
        metadata: Mapping[str, Any] | None = None,
        hint: str | None = None,
        continue_on_error: bool = True,
        max_messages_per_conversation: int = 0,
    ) -> dict[str, Any]:
        """Extract from every conversation in `file_path` (.json/.jsonl/folder) or `data`.

        Returns the importer's report with the original's keys too:
        `total_conversations`, `processed`, `failed`, `upserted_count`, `skills`,
        `errors`, `source_file`. `metadata` is accepted for compatibility; each
        job records its file and position as provenance instead.
        """
        from extraction.importing.service import import_conversations

        del metadata
        if data is None and not file_path:
            raise ValueError("Give file_path or data.")
        user = self._user(user_id)
        with tempfile.TemporaryDirectory(prefix="autoskill-sdk-") as tmp, _errors():
            path = Path(file_path) if file_path else Path(tmp) / "conversations.json"
            if not file_path:
                path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            report = import_conversations(
                user=user,
                path=path,
                hint=hint,
                max_messages=max_messages_per_conversation,
                continue_on_error=continue_on_error,
                llm=self._llm(),
            )
        report["total_conversations"] = report["total"]
        report["source_file"] = str(file_path) if file_path else ""
        return report

    # -- retrieval -------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        top_k: int | None = None,
        scope: str | None = None,
        min_score: float | None = None,
    ) -> list[SkillHit]:
        """Rank the user's skills and the libraries for `query` (`top_k` = `limit`)."""
        from retrieval.search import skill_search

        with _errors():
            result = skill_search(
                user=self._user(user_id),
                query=query,
                scope=scope or self.config.scope,
                top_k=limit or top_k or self.config.default_search_limit,
                min_score=self.config.min_score if min_score is None else min_score,
            )
        skills = {s.id: s for s in self._skills([h.skill.id for h in result.hits])}
        return [
            SkillHit(
                skill=skills[hit.skill.id],
                score=float(hit.score),
                rank=hit.rank,
                keyword_score=float(hit.keyword_score),
                vector_score=hit.vector_score,
            )
            for hit in result.hits
            if hit.skill.id in skills
        ]

    def render_context(
        self,
        query: str | Sequence[SkillHit],
        *,
        user_id: str | None = None,
        limit: int | None = None,
        scope: str | None = None,
        min_score: float | None = None,
        max_chars: int | None = None,
    ) -> str:
        """The context block the proxy would inject; empty when nothing is found.

        `query` is a query (searched first) or hits from `search`.
        """
        if isinstance(query, str):
            text = query
            hits = self.search(
                query, user_id=user_id, limit=limit, scope=scope, min_score=min_score
            )
        else:
            text, hits = "", list(query)
        budget = self.config.max_context_chars if max_chars is None else max_chars
        return render_hits(hits, query=text, max_chars=budget)

    # -- skills ----------------------------------------------------------------

    @staticmethod
    def _skills(ids: Sequence[str]) -> list[Skill]:
        from autoskill.convert import skills_by_id

        return skills_by_id(ids)

    @staticmethod
    def _row(skill_id: str) -> Any:
        from skills.models import Skill as SkillRow
        from skills.selectors import parse_skill_id

        try:
            pk = parse_skill_id(skill_id)
        except Exception:  # noqa: BLE001 - any malformed id is simply unknown
            return None
        return SkillRow.objects.filter(pk=pk).first()

    def get(self, skill_id: str) -> Skill | None:
        """Any skill by id (the caller is trusted in-process, as in the original)."""
        found = self._skills([skill_id]) if self._row(skill_id) else []
        return found[0] if found else None

    get_skill = get

    def list(self, *, user_id: str | None = None) -> list[Skill]:
        """The user's own active skills, newest change first (no library skills)."""
        from skills.models import Skill as SkillRow
        from skills.models import SkillStatus

        ids = SkillRow.objects.filter(
            owner=self._user(user_id), library__isnull=True, status=SkillStatus.ACTIVE
        ).order_by("-updated_at", "-pk")
        return self._skills([str(pk) for pk in ids.values_list("pk", flat=True)])

    get_all = list_skills = list

    def delete(self, skill_id: str) -> bool:
        """Delete a user skill and its history; False if unknown or a library skill."""
        from skills.services import skill_delete

        row = self._row(skill_id)
        if row is None or row.library_id:
            return False
        with _errors():
            skill_delete(skill_id=row.pk)
        return True

    delete_skill = delete

    # -- SKILL.md folders --------------------------------------------------------

    def export_skill_md(self, skill_id: str) -> str | None:
        from skills.selectors import current_skill_md

        row = self._row(skill_id)
        return current_skill_md(row) if row is not None else None

    def export_skill_dir(self, skill_id: str) -> dict[str, str]:
        """`{relative path: text}` of the skill's folder (SKILL.md + resources)."""
        from skills.exporter import export_entries
        from skills.models import Skill as SkillRow

        row = self._row(skill_id)
        if row is None:
            return {}
        entries = export_entries(SkillRow.objects.filter(pk=row.pk), flat=True)
        return {
            rel.split("/", 1)[1]: data.decode("utf-8", errors="replace")
            for rel, data in entries
        }

    def write_skill_dirs(
        self, *, user_id: str | None = None, root_dir: str | Path
    ) -> list[str]:
        """Write the user's active skills as `<root_dir>/<name>/` folders."""
        from skills.exporter import export_entries, export_to_folder
        from skills.models import Skill as SkillRow
        from skills.models import SkillStatus

        rows = SkillRow.objects.filter(
            owner=self._user(user_id), library__isnull=True, status=SkillStatus.ACTIVE
        )
        root = Path(root_dir).expanduser().resolve()
        export_to_folder(rows, root, flat=True)
        names = {rel.split("/", 1)[0] for rel, _ in export_entries(rows, flat=True)}
        return [str(root / name) for name in sorted(names)]

    export_skill_dirs = write_skill_dirs

    def import_agent_skill_dirs(
        self,
        *,
        root_dir: str | Path,
        user_id: str | None = None,
        overwrite: bool = True,
        include_files: bool = True,
        max_depth: int = 6,
        reassign_ids: bool = True,
    ) -> list[Skill]:
        """Import every SKILL.md folder under `root_dir` into the user's skills.

        With `reassign_ids` (default) ids derive from the user and the folder's
        path, so importing the same tree again updates the same skills.
        """
        from skills.importer import (
            ImportOptions,
            ImportReport,
            Target,
            import_folders,
            plan_tree,
        )

        root = Path(root_dir).expanduser().resolve()
        if not root.is_dir():
            raise AutoSkillError(404, "not_found", f"{root_dir} is not a folder.")
        target = Target(owner=self._user(user_id))
        options = ImportOptions(
            keep_ids=not reassign_ids,
            overwrite=overwrite,
            include_files=include_files,
            max_depth=max_depth,
        )
        report = ImportReport()
        with _errors():
            plan = plan_tree(root, target=target, max_depth=max_depth)
            import_folders(plan, options=options, report=report)
        touched = [*report.created, *report.updated, *report.unchanged]
        if not touched and report.errors:
            path, message = report.errors[0]
            raise AutoSkillError(400, "invalid_input", f"{path}: {message}")
        return self._skills(touched)

    import_skill_dirs = import_agent_skill_dirs
