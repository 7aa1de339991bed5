"""Clients and builders shared by the skill API tests."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.test import Client

from proxy.auth import api_key_create

BASE = "/v1/autoskill/skills"


class Api:
    """The Django test client with one API key, speaking to /v1/autoskill/skills."""

    def __init__(self, client: Client, secret: str) -> None:
        self.client = client
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    @classmethod
    def for_user(cls, user: Any, client: Client | None = None) -> Api:
        return cls(client or Client(), api_key_create(owner=user).secret)

    def url(self, path: str = "") -> str:
        return f"{BASE}{path}"

    def get(self, path: str = "", data: dict | None = None, **headers: Any):
        return self.client.get(self.url(path), data or {}, **self.auth, **headers)

    def delete(self, path: str, **headers: Any):
        return self.client.delete(self.url(path), **self.auth, **headers)

    def put_md(self, skill_id: object, text: str, **headers: Any):
        headers.setdefault("content_type", "text/markdown; charset=utf-8")
        return self.client.put(
            self.url(f"/{skill_id}/md"), text.encode("utf-8"), **self.auth, **headers
        )

    def send_json(self, method: str, path: str, payload: Any, **headers: Any):
        call = getattr(self.client, method)
        return call(
            self.url(path), payload, content_type="application/json", **self.auth,
            **headers,
        )  # fmt: skip

    def upload(self, name: str, content: bytes, **fields: Any):
        from django.core.files.uploadedfile import SimpleUploadedFile

        content_type = "application/zip" if name.endswith(".zip") else "text/markdown"
        data = {"file": SimpleUploadedFile(name, content, content_type), **fields}
        return self.client.post(self.url("/import"), data, **self.auth)


@pytest.fixture
def api(client, user) -> Api:
    """The caller's API: `user`'s key on the test's own client."""
    return Api.for_user(user, client)


@pytest.fixture
def bob_api(other_user) -> Api:
    """Another user's API, on a client of its own."""
    return Api.for_user(other_user)


def zip_bytes(
    entries: dict[str, bytes | str], *, symlinks: dict[str, str] | None = None
) -> bytes:
    """A zip archive of `entries` (path -> content) plus symbolic link entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in entries.items():
            archive.writestr(path, content)
        for path, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(path)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def skill_md(
    name: str, *, description: str, body: str = "Do the thing.", **meta: str
) -> str:
    extra = "".join(f"  {key}: {value}\n" for key, value in meta.items())
    metadata = f"metadata:\n{extra}" if extra else ""
    return (
        f"---\nname: {name}\ndescription: {description}\n{metadata}---\n\n"
        f"# {name.replace('-', ' ').title()}\n\n{body}\n"
    )


def error_of(response) -> dict[str, Any]:
    """The OpenAI envelope's inner object; fails loudly on any other body."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]
