"""AutoSkillClient: the facade's methods over a running server's REST API.

Pure HTTP (httpx2, the openai SDK's stack): importing it never sets Django up.
`user` names a sub-user and is honoured only for service API keys (the
`X-AutoSkill-User` header); other keys always act as their owner. Errors come
back as OpenAI envelopes and are raised as AutoSkillError(status, code, message).
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import httpx2

from autoskill.context import render_hits
from autoskill.errors import AutoSkillError
from autoskill.types import Skill, SkillHit

API = "/v1/autoskill"
FINISHED = ("completed", "failed", "cancelled")


class AutoSkillClient:
    """Talk to an AutoSkill Studio server with an API key.

    `wait_timeout` bounds how long `ingest` and `import_openai_conversations`
    wait for their background job; `trust_env=False` keeps proxy variables from
    redirecting a loopback server's traffic.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        user: str | None = None,
        timeout: float = 60.0,
        wait_timeout: float = 600.0,
        poll_interval: float = 0.25,
        trust_env: bool = False,
    ) -> None:
        root = base_url.rstrip("/")
        # Accept the OpenAI-style base URL (…/v1) as well as the server root.
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.user = user
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self._http = httpx2.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            trust_env=trust_env,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AutoSkillClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, user_id: str | None = None, **kwargs: Any
    ) -> httpx2.Response:
        user = user_id or self.user
        headers = {"X-AutoSkill-User": user} if user else {}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx2.HTTPError as exc:
            raise AutoSkillError(0, "connection_error", str(exc)) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _wait(self, path: str, *, user_id: str | None, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wait_timeout
        while True:
            body = self._call("GET", path, user_id=user_id).json()
            if body.get("status") in FINISHED:
                return body
            if time.monotonic() >= deadline:
                raise AutoSkillError(
                    504,
                    "timeout",
                    f"The {what} did not finish in {self.wait_timeout}s.",
                )
            time.sleep(self.poll_interval)

    # -- learning --------------------------------------------------------------

    def ingest(
        self,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        user_id: str | None = None,
        hint: str | None = None,
        events: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Skill]:
        """Queue an extraction, wait for its job, and return the skills it upserted."""
        del metadata  # the server records its own provenance for API jobs
        if events:
            raise ValueError(
                "The REST API extracts from messages; events are not sent."
            )
        if not messages:
            raise ValueError("ingest needs messages.")
        body: dict[str, Any] = {"messages": list(messages)}
        if hint:
            body["hint"] = hint
        event = self._call(
            "POST", f"{API}/extractions", user_id=user_id, json=body
        ).json()["data"]
        job = self._wait(
            f"{API}/extractions/{event['job_id']}", user_id=user_id, what="extraction"
        )
        if job["status"] != "completed":
            raise AutoSkillError(
                502, "extraction_failed", job.get("error") or f"Job {job['status']}."
            )
        return [
            skill
            for item in job.get("upserted") or []
            if (skill := self.get(str(item["id"]), user_id=user_id)) is not None
        ]

    add = ingest

    def import_openai_conversations(
        self,
        *,
        user_id: str | None = None,
        data: Any = None,
        file_path: str | Path = "",
        hint: str | None = None,
        continue_on_error: bool = True,
        max_messages_per_conversation: int = 0,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Upload conversations (`data`, or a .json/.jsonl `file_path`), wait, report.

        The report has `processed` and `upserted_count` like the original's, plus
        `total_conversations` and `source_file`.
        """
        del metadata
        if data is None and not file_path:
            raise ValueError("Give file_path or data.")
        options: dict[str, Any] = {
            "continue_on_error": continue_on_error,
            "max_messages": max_messages_per_conversation,
        }
        if hint:
            options["hint"] = hint
        url = f"{API}/conversations/import"
        if file_path:
            path = Path(file_path)
            with path.open("rb") as handle:
                form = {k: str(v).lower() if isinstance(v, bool) else str(v)
                        for k, v in options.items()}  # fmt: skip
                response = self._call(
                    "POST", url, user_id=user_id, data=form,
                    files={"file": (path.name, handle, "application/octet-stream")},
                )  # fmt: skip
        else:
            response = self._call(
                "POST", url, user_id=user_id, json={"conversations": data, **options}
            )
        queued = response.json()
        done = self._wait(f"{url}/{queued['id']}", user_id=user_id, what="import")
        if done["status"] != "completed" or done.get("report") is None:
            raise AutoSkillError(
                502, "import_failed", done.get("error") or f"Import {done['status']}."
            )
        report = dict(done["report"])
        report["total_conversations"] = report["total"]
        report["source_file"] = str(file_path) if file_path else ""
        return report

    # -- retrieval -------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        top_k: int | None = None,
        scope: str | None = None,
        min_score: float | None = 0.0,
    ) -> list[SkillHit]:
        """Ranked hits with their full skills (one GET per hit)."""
        body: dict[str, Any] = {"query": query, "scope": scope or "all"}
        if limit or top_k:
            body["limit"] = limit or top_k
        if min_score is not None:
            body["min_score"] = min_score
        found = self._call(
            "POST", f"{API}/skills/search", user_id=user_id, json=body
        ).json()
        hits = []
        for item in found["data"]:
            skill = self.get(str(item["id"]), user_id=user_id)
            if skill is not None:
                hits.append(
                    SkillHit(
                        skill=skill,
                        score=float(item["score"]),
                        rank=int(item.get("rank") or 0),
                        keyword_score=float(item.get("keyword_score") or 0.0),
                        vector_score=item.get("vector_score"),
                    )  # fmt: skip
                )
        return hits

    def render_context(
        self,
        query: str | Sequence[SkillHit],
        *,
        user_id: str | None = None,
        limit: int | None = None,
        scope: str | None = None,
        min_score: float | None = 0.0,
        max_chars: int = 6000,
    ) -> str:
        """The context text for `query`'s hits (or for hits from `search`).

        Rendered here with the server's renderer (retrieval/context.py, which is
        plain Python), so the text equals the in-process facade's.
        """
        if isinstance(query, str):
            text = query
            hits = self.search(
                query, user_id=user_id, limit=limit, scope=scope, min_score=min_score
            )
        else:
            text, hits = "", list(query)
        return render_hits(hits, query=text, max_chars=max_chars)

    # -- skills ----------------------------------------------------------------

    def get(self, skill_id: str, *, user_id: str | None = None) -> Skill | None:
        try:
            body = self._call("GET", f"{API}/skills/{skill_id}", user_id=user_id)
        except AutoSkillError as exc:
            if exc.status in (400, 404):
                return None
            raise
        return Skill.from_api(body.json()["data"])

    get_skill = get

    def list(self, *, user_id: str | None = None) -> list[Skill]:
        """The user's own active skills (summaries: `instructions` is empty)."""
        skills: list[Skill] = []
        params: dict[str, Any] = {"scope": "user", "status": "active", "limit": 100}
        while True:
            page = self._call(
                "GET", f"{API}/skills", user_id=user_id, params=params
            ).json()
            skills.extend(Skill.from_api(item) for item in page["data"])
            if not page.get("has_more") or not page.get("next_cursor"):
                return skills
            params["cursor"] = page["next_cursor"]

    get_all = list_skills = list

    def delete(self, skill_id: str, *, user_id: str | None = None) -> bool:
        """True if deleted; False if unknown or not the caller's to delete."""
        try:
            self._call("DELETE", f"{API}/skills/{skill_id}", user_id=user_id)
        except AutoSkillError as exc:
            if exc.status in (400, 403, 404):
                return False
            raise
        return True

    delete_skill = delete

    # -- SKILL.md folders --------------------------------------------------------

    def export_skill_md(self, skill_id: str, *, user_id: str | None = None) -> str:
        return self._call(
            "GET", f"{API}/skills/{skill_id}/export", user_id=user_id,
            params={"format": "md"},
        ).text  # fmt: skip

    def export_skill_dir(
        self, skill_id: str, *, user_id: str | None = None
    ) -> dict[str, str]:
        """`{relative path: text}` of the skill's folder, from its zip export."""
        return {
            rel: data.decode("utf-8", errors="replace")
            for rel, data in self._skill_zip(skill_id, user_id=user_id).items()
        }

    def _skill_zip(self, skill_id: str, *, user_id: str | None) -> dict[str, bytes]:
        raw = self._call(
            "GET", f"{API}/skills/{skill_id}/export", user_id=user_id,
            params={"format": "zip"},
        ).content  # fmt: skip
        files = {}
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for name in archive.namelist():
                parts = PurePosixPath(name).parts
                # `<name>/<rel>`; anything escaping the folder is not written.
                if len(parts) < 2 or ".." in parts or name.endswith("/"):
                    continue
                files["/".join(parts[1:])] = archive.read(name)
        return files

    def write_skill_dirs(
        self, *, user_id: str | None = None, root_dir: str | Path
    ) -> list[str]:
        """Write the user's active skills as `<root_dir>/<name>/` folders."""
        root = Path(root_dir).expanduser().resolve()
        written = []
        for skill in self.list(user_id=user_id):
            folder = root / skill.name
            for rel, data in self._skill_zip(skill.id, user_id=user_id).items():
                target = folder.joinpath(*rel.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            written.append(str(folder))
        return sorted(written)

    export_skill_dirs = write_skill_dirs

    def import_agent_skill_dirs(
        self,
        *,
        root_dir: str | Path,
        user_id: str | None = None,
        overwrite: bool = True,
        include_files: bool = True,
    ) -> list[Skill]:
        """Zip every file under `root_dir` and upload it to the skill import API."""
        root = Path(root_dir).expanduser().resolve()
        if not root.is_dir():
            raise AutoSkillError(404, "not_found", f"{root_dir} is not a folder.")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and not any(p.startswith(".") for p in rel.parts):
                    archive.write(path, rel.as_posix())
        body = self._call(
            "POST", f"{API}/skills/import", user_id=user_id,
            data={"overwrite": str(overwrite).lower(),
                  "include_files": str(include_files).lower()},
            files={"file": (f"{root.name}.zip", buffer.getvalue(), "application/zip")},
        ).json()  # fmt: skip
        return [Skill.from_api(item) for item in body.get("data") or []]

    import_skill_dirs = import_agent_skill_dirs


def _error(response: httpx2.Response) -> AutoSkillError:
    """The OpenAI envelope {"error": {message, type, code}} as an AutoSkillError."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = error.get("code") or error.get("type") or f"http_{response.status_code}"
    message = error.get("message") or response.text[:500] or response.reason_phrase
    return AutoSkillError(response.status_code, str(code), str(message))


__all__ = ["AutoSkillClient"]
