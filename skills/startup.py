"""Startup maintenance of the skill store: the original's steps, the database as truth.

The original scanned its SkillBank at start, wrote an `id:` into every SKILL.md that
lacked one and imported the folders named in AUTOSKILL_AUTO_IMPORT_DIRS (ref-core.md
7.2). Here every skill has its id in the database from the moment it exists, so:

- "normalise ids" becomes `startup_heal_mirror`: every SKILL.md the mirror should
  hold is rewritten from the database when missing or different, which puts the id
  back into any copy that lost it. Folders the database does not know are reported,
  never deleted at startup (`rebuild_mirror` removes them when asked). An original
  SkillBank found in an empty database is adopted first: its skills, ids and files
  are imported (`import_skills --skillbank`), then written back in the new format.
- auto import reuses the importer with ids derived from the target and the
  relative path, so an unchanged folder imports nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from autoskill_site.exceptions import InvalidInput
from skills import mirror
from skills.importer import (
    ImportOptions,
    ImportReport,
    Target,
    import_folders,
    library_slug_for,
    plan_skillbank,
    plan_tree,
)
from skills.models import Skill, SkillStatus
from skills.reader import discover
from skills.services import library_get_or_create

__all__ = [
    "AutoImportConfig",
    "AutoImportRun",
    "MirrorHeal",
    "auto_import_config",
    "startup_auto_import",
    "startup_heal_mirror",
]

DEFAULT_LIBRARY = "Imported"


@dataclass
class MirrorHeal:
    """What healing the mirror found and did."""

    adopted: ImportReport | None = None
    rewritten: int = 0
    unknown_folders: list[str] = field(default_factory=list)
    skills: int = 0


def _adoptable(root: Path) -> bool:
    """An original SkillBank (Users/ or Common/ with a SKILL.md) in an empty store."""
    if Skill.objects.exists():
        return False
    return any(
        any(discover(root / area, max_depth=settings.AUTOSKILL_AUTO_IMPORT_MAX_DEPTH))
        for area in (mirror.USERS_DIR, mirror.COMMON_DIR)
        if (root / area).is_dir()
    )


def _adopt(root: Path) -> ImportReport:
    report = ImportReport()
    plan = plan_skillbank(
        root, max_depth=settings.AUTOSKILL_AUTO_IMPORT_MAX_DEPTH, report=report
    )
    options = ImportOptions(keep_ids=True, include_files=True)
    return import_folders(plan, options=options, report=report)


def _folder_of(rel_path: str, folders: dict[str, object]) -> object | None:
    parts = rel_path.split("/")
    for end in range(len(parts) - 1, 0, -1):
        owner = folders.get("/".join(parts[:end]))
        if owner is not None:
            return owner
    return None


def _unknown_folders(unexpected: list[str]) -> list[str]:
    return sorted(
        {rel.rsplit("/", 1)[0] for rel in unexpected if rel.endswith("/SKILL.md")}
    )


def startup_heal_mirror() -> MirrorHeal:
    """Rewrite missing or changed mirror files from the database; report the rest."""
    result = MirrorHeal()
    if not mirror.is_enabled():
        return result
    root = mirror.store_root()
    if root.is_dir() and _adoptable(root):
        result.adopted = _adopt(root)
    check = mirror.mirror_rebuild(check_only=True)
    result.skills = check.skills
    result.unknown_folders = _unknown_folders(check.unexpected)
    drifted = check.missing + check.changed
    if not drifted:
        return result
    live = Skill.objects.filter(status=SkillStatus.ACTIVE).select_related(
        "owner", "library"
    )
    folders = {
        "/".join(mirror.skill_segments(skill)): skill.pk
        for skill in live.iterator(chunk_size=500)
    }
    ids = {_folder_of(rel, folders) for rel in drifted} - {None}
    mirror.mirror_skills(ids)
    result.rewritten = len(ids)
    return result


@dataclass(frozen=True)
class AutoImportConfig:
    """AUTOSKILL_AUTO_IMPORT_*, read once."""

    dirs: tuple[str, ...] = ()
    scope: str = "common"
    library: str = ""
    username: str = ""
    overwrite: bool = False
    include_files: bool = True
    max_depth: int = 6


def auto_import_config() -> AutoImportConfig:
    scope = settings.AUTOSKILL_AUTO_IMPORT_SCOPE.strip().lower()
    return AutoImportConfig(
        dirs=tuple(settings.AUTOSKILL_AUTO_IMPORT_DIRS),
        scope="user" if scope == "user" else "common",
        library=settings.AUTOSKILL_AUTO_IMPORT_LIBRARY.strip(),
        username=(
            settings.AUTOSKILL_AUTO_IMPORT_USER or settings.AUTOSKILL_USER_ID
        ).strip(),
        overwrite=settings.AUTOSKILL_AUTO_IMPORT_OVERWRITE,
        include_files=settings.AUTOSKILL_AUTO_IMPORT_INCLUDE_FILES,
        max_depth=settings.AUTOSKILL_AUTO_IMPORT_MAX_DEPTH,
    )


@dataclass
class AutoImportRun:
    """One source folder's import; `error` set when the folder could not be used."""

    source: str
    target: str = ""
    report: ImportReport = field(default_factory=ImportReport)
    error: str = ""


def _sources(dirs: tuple[str, ...]) -> list[Path]:
    """Each folder once, by absolute path (the original de-duplicated the same way)."""
    seen: dict[Path, None] = {}
    for raw in dirs:
        if raw.strip():
            seen.setdefault(Path(raw.strip()).expanduser().resolve(), None)
    return list(seen)


def _library_target(config: AutoImportConfig, source: Path) -> Target:
    name = config.library or source.name or DEFAULT_LIBRARY
    slug = library_slug_for(name)
    return Target(library=library_get_or_create(slug=slug, name=name))


def startup_auto_import(*, config: AutoImportConfig, owner: object = None) -> list:
    """Import every folder of `config.dirs`; a bad folder is reported, not fatal.

    `owner` is the user of a user-scope import (the caller creates it when missing).
    """
    if config.scope == "user" and owner is None and config.dirs:
        raise InvalidInput("A user-scope auto import needs a user.")
    options = ImportOptions(
        keep_ids=False,
        overwrite=config.overwrite,
        include_files=config.include_files,
        max_depth=config.max_depth,
    )
    runs: list[AutoImportRun] = []
    for source in _sources(config.dirs):
        run = AutoImportRun(source=str(source))
        runs.append(run)
        if not source.is_dir():
            run.error = "not a folder"
            continue
        try:
            target = (
                Target(owner=owner)
                if config.scope == "user"
                else _library_target(config, source)
            )
        except InvalidInput as exc:
            run.error = exc.message
            continue
        run.target = target.label
        plan = plan_tree(source, target=target, max_depth=config.max_depth)
        if not plan:
            run.error = "no SKILL.md found"
            continue
        import_folders(plan, options=options, report=run.report)
    return runs
