"""Context text for SDK hits, shared by the in-process facade and the HTTP client.

Both render with the server's own renderer (retrieval/context.py, plain Python, no
Django), so a script gets the same block the proxy would inject.
"""

from __future__ import annotations

from collections.abc import Sequence

from autoskill.types import SkillHit


def render_hits(hits: Sequence[SkillHit], *, query: str, max_chars: int) -> str:
    """The context block for `hits`; empty when there are none."""
    from retrieval.context import ContextSkill, render_skills_context

    skills = [
        ContextSkill(
            id=h.skill.id,
            name=h.skill.name,
            title=h.skill.title,
            version=h.skill.version,
            description=h.skill.description,
            triggers=h.skill.triggers,
            tags=h.skill.tags,
            resources=h.skill.resources,
            instructions=h.skill.instructions,
        )  # fmt: skip
        for h in hits
    ]
    return render_skills_context(skills, query=query, max_units=max_chars).text
