"""Our prompts for extraction, its one repair, the add/merge/discard decision and the merge.

Payloads are JSON built by a serializer (the original sent Python reprs and left a
literal `{max_candidates}` in its prompt). Each builder returns OpenAI-style messages.
"""

from __future__ import annotations

import json
from typing import Any

EXTRACT_SYSTEM = """\
You distil reusable skills from a user's conversations with an AI assistant. A skill \
is a saved instruction set the assistant will follow the next time the same kind of \
task comes up.

Evidence rules
- Only the user's own words (`user_turns`) are evidence. `conversation` and \
`tool_events` are context. Something the assistant proposed counts only if the user \
asked for it or clearly confirmed it; "ok", "thanks" or "continue" confirm nothing.
- When the user changed their mind, the latest statement wins. If the conversation \
switched to a new task, use only what the user said about the newest one.
- `reference` (if present) is an existing skill, given only so you can tell whether \
this is the same capability; it is never evidence.

When to extract (at most ONE skill)
- Extract when the user states something durable about HOW work should be done: a \
procedure or ordered steps, an output format or template, a style or tone rule, \
required or banned tools and technologies, review or safety checks, a correction that \
sets policy for the future. One explicit durable rule is enough.
- Do not extract from small talk, a single factual question, a one-off task whose \
request is only content (WHAT, not HOW), or rules invented by the assistant. Ask: \
"will this user want the same behaviour next time?" If not, return no skill.
- A `hint` is an explicit request to save a skill; still extract only what the \
evidence supports.

Writing the skill
- Generalise: drop names of people, companies, projects, tickets, URLs, dates, \
amounts and pasted content; use placeholders such as <PROJECT> where needed. Invent \
nothing the user did not ask for.
- name: short kebab-case English slug of the capability (e.g. "release-rollout-checklist").
- description: one or two sentences, third person, saying what the skill does and \
when to use it, in the user's language.
- instructions: Markdown with "# Goal", "# Constraints & Style" (must / must-not \
rules) and, only when the user gave ordered steps, "# Workflow" as a numbered list. \
Same language as the user.
- triggers: 3-5 short phrases a user would type when they need this skill.
- tags: 1-6 keywords. confidence: 0-1, how sure you are the user wants this reused.

Answer with one JSON object and nothing else:
{"skills": []}  or  {"skills": [{"name": "...", "description": "...", \
"instructions": "...", "triggers": ["..."], "tags": ["..."], "confidence": 0.0}]}"""

REPAIR_SYSTEM = """\
Your previous answer could not be used. Reply again with exactly one JSON object of \
the form {"skills": []} or {"skills": [{"name", "description", "instructions", \
"triggers", "tags", "confidence"}]} (at most one skill; instructions as Markdown with \
# Goal and # Constraints & Style). Fix the problems listed; change nothing else; no \
text outside the JSON."""

DECIDE_SYSTEM = """\
You maintain a user's library of reusable skills. A new candidate skill was just \
extracted; decide what to do with it, given the most similar existing skills.

- "merge" when the candidate is the same capability as one of the user's own skills \
(same job, same kind of deliverable, same acceptance criteria) and refines it: new \
constraints, corrected steps, renamed or reworded. target_skill_id must be the id of a \
skill with scope "user".
- "discard" when it adds nothing durable: a generic or one-off request, or a \
capability already covered by a skill (a library skill is read-only: overlap with one \
can only be discarded).
- "add" when it is a different capability: another deliverable, audience, channel or \
family of work (writing vs coding vs analysis vs planning), even if the topic is close.
- Never "add" a candidate that is the same capability as an existing user skill or \
has the same name as one.

Answer with one JSON object: {"action": "add" | "merge" | "discard", \
"target_skill_id": "<id or null>", "reason": "<at most 30 words>"}"""

MERGE_SYSTEM = """\
Merge a new version of a skill into the existing one. The result is one improved \
skill for the same capability: keep the existing core, every existing constraint \
that the candidate does not explicitly replace, and its language; add the candidate's \
new reusable rules and steps; when they conflict, the candidate (newer) wins. \
Deduplicate sections, bullets, triggers and tags; do not concatenate blindly; invent \
nothing; keep names, dates and other instance details out.

Answer with one JSON object: {"name": "...", "description": "...", "instructions": \
"Markdown with # Goal, # Constraints & Style, optional # Workflow", "triggers": \
["3-5 phrases"], "tags": ["1-6 keywords"]}"""


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, default=str)


def extract_messages(payload: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": EXTRACT_SYSTEM},
        {"role": "user", "content": _json(payload)},
    ]


def repair_messages(
    payload: dict[str, Any], draft: str, problems: str
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": EXTRACT_SYSTEM},
        {"role": "user", "content": _json(payload)},
        {"role": "assistant", "content": draft[-4000:]},
        {"role": "system", "content": f"{REPAIR_SYSTEM}\n\nProblems: {problems}"},
    ]


def decide_messages(
    candidate: dict[str, Any], similar: list[dict[str, Any]]
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": DECIDE_SYSTEM},
        {
            "role": "user",
            "content": _json({"candidate": candidate, "similar": similar}),
        },
    ]


def merge_messages(
    existing: dict[str, Any], candidate: dict[str, Any]
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": MERGE_SYSTEM},
        {
            "role": "user",
            "content": _json(
                {"existing_skill": existing, "candidate_skill": candidate}
            ),
        },
    ]
