"""Concurrent writers to one skill serialise: no lost update, no duplicate version number."""

from __future__ import annotations

import pytest
from django.db import connection

from skills.models import Skill, SkillVersion
from skills.services import skill_merge, skill_update
from tests.concurrency import race
from tests.factories import make_skill

WRITERS = 8
ROUNDS = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_merges_lose_nothing_and_number_versions_monotonically(user):
    """Eight threads merge triggers into one skill at once; every trigger and version survives."""
    # given
    skill = make_skill(owner=user, triggers=["base"])
    # when
    errors = race(
        lambda i, r: skill_merge(
            skill_id=skill.pk, incoming={"triggers": [f"t-{i}-{r}"]}
        ),
        threads=WRITERS,
        rounds=ROUNDS,
    )
    # then
    assert errors == []
    final = Skill.objects.get(pk=skill.pk)
    expected = {"base"} | {f"t-{i}-{r}" for i in range(WRITERS) for r in range(ROUNDS)}
    assert set(final.triggers) == expected
    numbers = list(
        SkillVersion.objects.filter(skill=skill)
        .order_by("number")
        .values_list("number", flat=True)
    )
    assert numbers == list(range(1, WRITERS * ROUNDS + 2))
    assert final.version_number == numbers[-1]
    assert final.version == f"0.1.{WRITERS * ROUNDS}"


@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_get_unique_version_numbers(user):
    skill = make_skill(owner=user)
    errors = race(
        lambda i, r: skill_update(
            skill_id=skill.pk, instructions=f"writer {i} round {r}"
        ),
        threads=WRITERS,
        rounds=ROUNDS,
    )
    assert errors == []
    numbers = list(
        SkillVersion.objects.filter(skill=skill).values_list("number", flat=True)
    )
    assert len(numbers) == len(set(numbers)) == WRITERS * ROUNDS + 1
    assert connection.vendor in ("sqlite", "postgresql")
