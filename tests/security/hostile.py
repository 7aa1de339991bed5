"""Shared pieces of the hostile-input tests: the endpoints, bodies and checks."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

V1 = "/v1/autoskill"
# Every /v1 endpoint that takes a JSON body ("{skill}" is one of the caller's skills).
JSON_ENDPOINTS = (
    ("post", "/v1/chat/completions"),
    ("post", "/v1/embeddings"),
    ("post", f"{V1}/skills/search"),
    ("put", f"{V1}/skills/{{skill}}/md"),
    ("post", f"{V1}/skills/{{skill}}/rollback"),
    ("post", f"{V1}/extractions"),
    ("post", f"{V1}/extractions/simulate"),
    ("post", f"{V1}/conversations/import"),
    ("post", f"{V1}/retrieval/preview"),
)


def skill_md(name: str, body: str = "Body text.") -> str:
    """A SKILL.md named `name` verbatim (a JSON string is valid double-quoted YAML)."""
    return (
        f"---\nname: {json.dumps(name)}\ndescription: A skill named {json.dumps(name)}."
        f"\n---\n\n# Skill\n\n{body}\n"
    )


def zip_bytes(entries: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def envelope_problem(response: Any, status: int | tuple[int, ...]) -> str | None:
    """Why `response` is not an OpenAI error envelope with `status`, or None."""
    wanted = (status,) if isinstance(status, int) else status
    if response.status_code not in wanted:
        return f"status {response.status_code}: {response.content[:160]!r}"
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return f"not an envelope: {response.content[:160]!r}"
    if set(error) != {"message", "type", "param", "code"} or not error["message"]:
        return f"malformed envelope: {error!r}"
    return None


def call(
    hostile: dict[str, Any], method: str, path: str, body: Any, **extra: Any
) -> Any:
    """`method` on `path` ("{skill}" filled in) with the `hostile` fixture's key."""
    path = path.format(skill=hostile["skill"].pk)
    send = getattr(hostile["client"], method)
    return send(
        path,
        body,
        content_type=extra.pop("content_type", "application/json"),
        **hostile["headers"],
        **extra,
    )
