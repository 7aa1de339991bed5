"""Change counters per search scope, shared by every process through the database."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F

from retrieval.models import IndexGeneration


def generation_bump(*, scopes: Iterable[str]) -> None:
    """Mark scopes as changed; processes rebuild their copy on their next check."""
    for scope in sorted(set(scopes)):
        if IndexGeneration.objects.filter(scope=scope).update(
            generation=F("generation") + 1
        ):
            continue
        try:
            with transaction.atomic():
                IndexGeneration.objects.create(scope=scope, generation=1)
        except IntegrityError:  # another process created it first
            IndexGeneration.objects.filter(scope=scope).update(
                generation=F("generation") + 1
            )


def generations_read(*, scopes: Iterable[str]) -> dict[str, int]:
    wanted = list(scopes)
    found = dict(
        IndexGeneration.objects.filter(scope__in=wanted).values_list(
            "scope", "generation"
        )
    )
    return {scope: found.get(scope, 0) for scope in wanted}
