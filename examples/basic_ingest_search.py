# ruff: noqa: T201 - an example prints what it found
"""The original's minimal SDK loop, on our app: learn a skill, then find it.

Runs offline: `{"provider": "mock"}` is the deterministic offline provider and the
skills go to a SQLite file next to the SkillBank folder (created and migrated on
first use). Run from the repository root: `.venv/bin/python examples/basic_ingest_search.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The package lives at the repository root, next to this examples/ folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoskill import AutoSkill, AutoSkillConfig  # noqa: E402

STORE = sys.argv[1] if len(sys.argv) > 1 else "SkillBank"

sdk = AutoSkill(
    AutoSkillConfig(
        llm={"provider": "mock"},
        embeddings={"provider": "hashing", "dims": 256},
        store={"provider": "local", "path": STORE},
    )
)

learned = sdk.ingest(
    user_id="u1",
    messages=[
        {
            "role": "user",
            "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
        },
        {"role": "assistant", "content": "Understood."},
    ],
)
print("learned:", [skill.name for skill in learned])

hits = sdk.search("How should I do a safe release?", user_id="u1", limit=3)
for h in hits:
    print(h.skill.name, round(h.score, 3))

print(sdk.render_context("How should I do a safe release?", user_id="u1", limit=3))
