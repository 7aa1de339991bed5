"""GET /health (liveness) and GET /ready (readiness), outside /v1 and without auth.

/health answers as long as the process serves requests and touches nothing else.
/ready checks what a request needs: the database answers, the SkillBank directory is
writable, and the chat and embedding providers are configured. A failing check
makes it 503 with the reason of each, so an orchestrator (and a human) can see why.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from proxy.engine import db_hop
from proxy.errors import error_body

__all__ = ["health", "ready"]


# csrf_exempt: an unknown method must meet require_GET's 405, not CSRF's 403.
@csrf_exempt
@require_GET
async def health(request: HttpRequest) -> HttpResponse:
    """Liveness: the process is up (no database, no providers)."""
    return JsonResponse({"ok": True, "status": "alive"})


def _database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def _store() -> str | None:
    root = Path(settings.AUTOSKILL_STORE_DIR)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".ready-", delete=True):
            pass
    except OSError as exc:
        return f"{root} is not writable: {exc.strerror or exc}"
    return None


def _chat_provider() -> str | None:
    from autoskill_site.providers.llm import LLMPurpose
    from autoskill_site.providers.llm_config import describe_llm

    return describe_llm(LLMPurpose.CHAT).get("error")


def _embeddings() -> str | None:
    from autoskill_site.providers.embeddings import embedder_from_settings

    embedder_from_settings()
    return None


CHECKS = {
    "database": _database,
    "store": _store,
    "llm": _chat_provider,
    "embeddings": _embeddings,
}


def readiness() -> dict[str, Any]:
    """Run every check; each reports "ok" or why it failed."""
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            problem = check()
        except Exception as exc:  # noqa: BLE001 - a failed check is the answer
            problem = f"{type(exc).__name__}: {exc}"
        results[name] = {
            "ok": problem is None,
            **({"error": problem} if problem else {}),
        }
    return results


@csrf_exempt
@require_GET
async def ready(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when every check passes, else 503 naming the failures."""
    checks = await db_hop(readiness)()
    failed = [name for name, result in checks.items() if not result["ok"]]
    if not failed:
        return JsonResponse({"ok": True, "status": "ready", "checks": checks})
    reasons = "; ".join(f"{name}: {checks[name]['error']}" for name in failed)
    body = error_body(503, f"Not ready: {reasons}", code="not_ready")
    return JsonResponse(
        {"ok": False, "status": "not_ready", "checks": checks, **body}, status=503
    )
