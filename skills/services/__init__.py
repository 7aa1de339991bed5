"""Every write to skills goes through here: one version row per change, mirror after commit."""

from skills.services.libraries import (
    library_get_or_create,
    skill_promote,
    skill_promote_copy,
)
from skills.services.merging import skill_merge_many
from skills.services.skills import (
    skill_archive,
    skill_create,
    skill_delete,
    skill_merge,
    skill_rollback,
    skill_set_status,
    skill_update,
)
from skills.services.writes import TITLE_MAX, ConcurrentModification

__all__ = [
    "TITLE_MAX",
    "ConcurrentModification",
    "library_get_or_create",
    "skill_archive",
    "skill_create",
    "skill_delete",
    "skill_merge",
    "skill_merge_many",
    "skill_promote",
    "skill_promote_copy",
    "skill_rollback",
    "skill_set_status",
    "skill_update",
]
