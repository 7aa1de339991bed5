"""The AutoSkill Python SDK: `AutoSkill` in-process, `AutoSkillClient` over HTTP.

`AutoSkill` imports Django only when it is used, so a script that only talks to a
running server (`AutoSkillClient`) never sets up the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoskill.config import AutoSkillConfig
from autoskill.errors import AutoSkillError
from autoskill.types import Skill, SkillExample, SkillHit

if TYPE_CHECKING:
    from autoskill.http import AutoSkillClient
    from autoskill.sdk import AutoSkill

__all__ = [
    "AutoSkill",
    "AutoSkillClient",
    "AutoSkillConfig",
    "AutoSkillError",
    "Skill",
    "SkillExample",
    "SkillHit",
]


def __getattr__(name: str) -> Any:
    if name == "AutoSkill":
        from autoskill.sdk import AutoSkill

        return AutoSkill
    if name == "AutoSkillClient":
        from autoskill.http import AutoSkillClient

        return AutoSkillClient
    raise AttributeError(f"module 'autoskill' has no attribute {name!r}")
