"""Libraries: shared skill collections, and promotion of user skills into them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from autoskill_site.exceptions import Forbidden, InvalidInput
from skills.files import file_contents, file_manifest
from skills.models import Library, Skill, SkillStatus, VersionOrigin
from skills.naming import allocate_name
from skills.services.skills import skill_create
from skills.services.writes import (
    assign_identity,
    lock_skill,
    retrying,
    save_and_version,
    validation_message,
)
from skills.signals import scope_of


def skill_promote(
    *, skill_id: object, library: Library, author: Any = None, reason: str = ""
) -> Skill:
    """Move a user's skill into a library as a draft, keeping its id and history."""

    def promote() -> Skill:
        skill = lock_skill(skill_id)
        if skill.library_id is not None:
            raise Forbidden(
                f"Skill {skill.pk} already belongs to library {skill.library.slug}."
            )
        former_owner = skill.owner.get_username()
        former_scope = scope_of(owner_id=skill.owner_id, library_id=None)
        skill.owner = None
        skill.library = library
        skill.name = allocate_name(
            base=skill.name, owner_id=None, library=library, exclude_id=skill.pk
        )
        # Library skills reach every user, so a curator approves each one first.
        skill.status = SkillStatus.DRAFT
        assign_identity(skill, on_conflict="error")
        skill.provenance = {**skill.provenance, "promoted_from_user": former_owner}
        return save_and_version(
            skill=skill,
            origin=VersionOrigin.PROMOTION,
            author=author,
            reason=reason or f"Promoted from {former_owner} to library {library.slug}",
            manifest=file_manifest(skill),
            extra_scopes=(former_scope,),
        )

    return retrying(promote)


def library_get_or_create(
    *, slug: str, name: str = "", description: str = ""
) -> Library:
    """Fetch or create a library, checking the slug against the naming rules."""
    library = Library.objects.filter(slug=slug).first()
    if library is not None:
        return library
    library = Library(slug=slug, name=name or slug, description=description)
    try:
        library.full_clean()
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from exc
    try:
        with transaction.atomic():
            library.save()
    except IntegrityError:
        return Library.objects.get(slug=slug)
    return library


def skill_promote_copy(
    *, skill_id: object, library: Library, author: Any = None, reason: str = ""
) -> Skill:
    """Copy a user's skill into a library as a draft, leaving the user's skill as it is.

    The copy records where it came from (`provenance["promoted_from"]`), so a curator
    reviewing the draft can trace it back to the user's skill and version.
    """

    def copy() -> Skill:
        source = lock_skill(skill_id)
        if source.library_id is not None:
            raise Forbidden(
                f"Skill {source.name} already belongs to library {source.library.slug}; "
                "only a user's skill can be promoted."
            )
        username = source.owner.get_username()
        return skill_create(
            library=library,
            name=source.name,
            title=source.title,
            description=source.description,
            instructions=source.instructions,
            triggers=source.triggers,
            tags=source.tags,
            examples=source.examples,
            version=source.version,
            metadata=source.metadata,
            files=file_contents(source),
            status=SkillStatus.DRAFT,
            provenance={
                "promoted_from": {
                    "skill_id": str(source.pk),
                    "user": username,
                    "version": source.version,
                    "version_number": source.version_number,
                }
            },
            origin=VersionOrigin.PROMOTION,
            author=author,
            reason=reason
            or (
                f"Copied from {username}'s {source.name} v{source.version} "
                f"(#{source.version_number}) into library {library.slug}"
            ),
        )

    return retrying(copy)
