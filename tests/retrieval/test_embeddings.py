from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from autoskill_site.providers.embeddings import HashingEmbedder
from retrieval.embeddings import embeddings_refresh
from retrieval.models import SkillEmbedding
from retrieval.vectors import read_vector_files
from skills.services import skill_update
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def test_changed_skill_gets_a_new_vector_and_unchanged_ones_are_skipped(
    user, on_commit
):
    with on_commit():
        skill = make_skill(owner=user)
        other = make_skill(owner=user)
    first = SkillEmbedding.objects.get(skill=skill)
    # when
    with on_commit():
        skill_update(skill_id=skill.pk, triggers=["something entirely new"])
    # then
    second = SkillEmbedding.objects.get(skill=skill)
    assert second.content_hash != first.content_hash and bytes(second.vector) != bytes(
        first.vector
    )
    assert embeddings_refresh().embedded == 0
    assert SkillEmbedding.objects.get(skill=other).content_hash


def test_edit_during_embedding_leaves_the_vector_stale(user, on_commit, settings):
    """The stored hash is of the text actually embedded, so a concurrent edit is re-embedded."""
    settings.AUTOSKILL_EMBEDDINGS_SYNC = False
    settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "none"
    skill = make_skill(owner=user)
    settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "hashing"

    class EditingEmbedder(HashingEmbedder):
        def embed_passages(self, texts):
            skill_update(skill_id=skill.pk, triggers=["edited while embedding"])
            return super().embed_passages(texts)

    # when
    report = embeddings_refresh(embedder=EditingEmbedder())
    # then
    assert report.embedded == 1
    assert embeddings_refresh(embedder=HashingEmbedder()).embedded == 1


def test_vectors_are_mirrored_as_a_validated_file_set(user, on_commit, store_dir):
    with on_commit():
        skill = make_skill(owner=user)
    signature = HashingEmbedder().signature
    ids, matrix = read_vector_files(store_dir / "vectors", signature)
    assert ids == [str(skill.pk)]
    assert matrix.shape == (1, 256) and np.isclose(np.linalg.norm(matrix[0]), 1.0)


def test_refresh_command(user, settings):
    settings.AUTOSKILL_EMBEDDINGS_SYNC = False
    make_skill(owner=user)
    out = StringIO()
    call_command("refresh_embeddings", stdout=out)
    assert "1 embedded" in out.getvalue()
    call_command("refresh_embeddings", "--all", stdout=out)
    settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "none"
    with pytest.raises(CommandError, match="none"):
        call_command("refresh_embeddings")
