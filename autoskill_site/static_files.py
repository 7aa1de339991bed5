"""GET /static/<path>: the app's CSS and JavaScript when nothing in front serves them.

Plain daphne serves no files and Django's own static view is for DEBUG only, so a
container or `manage.py serve` without nginx would show unstyled pages whose scripts
never load. Files come from STATIC_ROOT (collectstatic, as in the image) and, for a
checkout that never ran collectstatic, from the app folders through the staticfiles
finders. Async with the file read on a worker thread: no hop through the one shared
sync thread. Behind nginx, serve STATIC_ROOT there and set AUTOSKILL_SERVE_STATIC=0.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseNotModified,
)
from django.utils._os import safe_join
from django.utils.http import http_date
from django.views.static import was_modified_since

__all__ = ["static_file"]

# Unhashed names (no manifest storage), so browsers revalidate after an hour.
CACHE_CONTROL = "public, max-age=3600"


def _locate(path: str) -> Path | None:
    if any(part.startswith(".") for part in path.split("/")):
        return None  # no hidden files, no "..", whatever the finders would allow
    try:
        candidate = Path(safe_join(settings.STATIC_ROOT, path))
    except (SuspiciousFileOperation, ValueError):
        return None
    if candidate.is_file():
        return candidate
    found = finders.find(path)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _read(path: str) -> tuple[bytes, float] | None:
    located = _locate(path)
    if located is None:
        return None
    try:
        return located.read_bytes(), located.stat().st_mtime
    except OSError:
        return None


async def static_file(request: HttpRequest, path: str) -> HttpResponse:
    """One static file, with Last-Modified and a short cache lifetime."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    found = await asyncio.to_thread(_read, path)
    if found is None:
        raise Http404(f"No static file {path!r}.")
    data, mtime = found
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(mtime)):
        return HttpResponseNotModified()
    content_type, encoding = mimetypes.guess_type(path)
    content_type = content_type or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith(
        ("javascript", "json")
    ):
        content_type += "; charset=utf-8"
    response = HttpResponse(
        data if request.method == "GET" else b"", content_type=content_type
    )
    response["Content-Length"] = str(len(data))
    response["Last-Modified"] = http_date(mtime)
    response["Cache-Control"] = CACHE_CONTROL
    if encoding:
        response["Content-Encoding"] = encoding
    return response
