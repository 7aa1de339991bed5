"""GET /v1/autoskill/capabilities: what this server supports, for clients to discover.

Endpoint paths are listed only if they resolve in this deployment's URLconf, so
the map never advertises a route that is not there.
"""

from __future__ import annotations

import functools
import tomllib
from typing import Any

from django.conf import settings
from django.urls import Resolver404, resolve
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from autoskill_site.providers.llm import LLMPurpose
from autoskill_site.providers.llm_config import describe_llm
from extraction.models import JobTrigger
from proxy.api.conversation_import import max_import_bytes
from proxy.api.extraction_common import (
    AUTHENTICATION,
    MAX_MESSAGES,
    PERMISSIONS,
    error_responses,
)
from proxy.api.extraction_stream import TIMEOUT_MAX
from proxy.api.pagination import LIMIT_MAX
from proxy.api.vectors import embeddings_description
from proxy.identity import SUB_USER_HEADER
from retrieval.rewrite import RewriteMode
from retrieval.search import MAX_QUERY_CHARS, MAX_TOP_K, SCOPE_ALIASES, SCOPES

__all__ = ["CapabilitiesApi", "capabilities"]

API = "/v1/autoskill"
_PROBE_ID = "00000000-0000-4000-8000-000000000000"
ENDPOINTS: dict[str, dict[str, str]] = {
    "chat": {"completions": "/v1/chat/completions"},
    "embeddings": {"create": "/v1/embeddings"},
    "models": {"list": "/v1/models"},
    "skills": {
        "list": f"{API}/skills",
        "get": f"{API}/skills/{{skill_id}}",
        "get_md": f"{API}/skills/{{skill_id}}/md",
        "save_md": f"{API}/skills/{{skill_id}}/md",
        "delete": f"{API}/skills/{{skill_id}}",
        "rollback": f"{API}/skills/{{skill_id}}/rollback",
        "versions": f"{API}/skills/{{skill_id}}/versions",
        "export": f"{API}/skills/{{skill_id}}/export",
        "search": f"{API}/skills/search",
        "import": f"{API}/skills/import",
    },
    "conversations": {
        "import": f"{API}/conversations/import",
        "import_status": f"{API}/conversations/import/{{import_id}}",
    },
    "retrieval": {"preview": f"{API}/retrieval/preview"},
    "extractions": {
        "extract_now": f"{API}/extractions",
        "simulate": f"{API}/extractions/simulate",
        "list": f"{API}/extractions",
        "latest": f"{API}/extractions/latest",
        "get": f"{API}/extractions/{{job_id}}",
        "events_stream": f"{API}/extractions/{{job_id}}/events",
    },
    "vectors": {"status": f"{API}/vectors/status", "rebuild": f"{API}/vectors/rebuild"},
    "meta": {
        "capabilities": f"{API}/capabilities",
        "openapi": f"{API}/openapi.json",
        "docs": f"{API}/docs",
    },
}


def _served(template: str) -> bool:
    path = template.replace("{skill_id}", _PROBE_ID).replace("{job_id}", _PROBE_ID)
    try:
        resolve(path.replace("{import_id}", "probe"))
    except Resolver404:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _endpoint_map(urlconf_marker: str) -> dict[str, dict[str, str]]:
    served = {
        group: {name: path for name, path in paths.items() if _served(path)}
        for group, paths in ENDPOINTS.items()
    }
    return {group: paths for group, paths in served.items() if paths}


@functools.lru_cache(maxsize=1)
def app_version() -> str:
    try:
        with (settings.BASE_DIR / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def capabilities(*, user: Any) -> dict[str, Any]:
    """The discovery document: providers, retrieval knobs, limits and endpoints."""
    embeddings, _ = embeddings_description()
    return {
        "version": app_version(),
        "api_version": "v1",
        "user": {"username": user.get_username(), "is_staff": bool(user.is_staff)},
        "auth": {
            "api_key": "Authorization: Bearer ask_...",
            "session": True,
            "service_keys_sub_user_header": SUB_USER_HEADER,
        },
        "llm": {
            "chat": describe_llm(LLMPurpose.CHAT),
            "extraction": describe_llm(LLMPurpose.EXTRACTION),
        },
        "chat": {"path": "/v1/chat/completions", "stream": True},
        "embeddings": embeddings,
        "retrieval": {
            "scopes": list(SCOPES),
            "scope_aliases": dict(SCOPE_ALIASES),
            "top_k": settings.AUTOSKILL_TOP_K,
            "min_score": settings.AUTOSKILL_MIN_SCORE,
            "rewrite_mode": settings.AUTOSKILL_REWRITE_MODE,
            "rewrite_modes": [m.value for m in RewriteMode],
            "max_context_units": settings.AUTOSKILL_MAX_CONTEXT_CHARS,
        },
        "extraction": {
            "enabled": settings.AUTOSKILL_EXTRACT_ENABLED,
            "mode": settings.AUTOSKILL_EXTRACT_MODE,
            "ingest_window": settings.AUTOSKILL_INGEST_WINDOW,
            "max_background_jobs": settings.AUTOSKILL_MAX_BG_EXTRACT_JOBS,
            "triggers": list(JobTrigger.values),
        },
        "limits": {
            "max_top_k": MAX_TOP_K,
            "max_query_chars": MAX_QUERY_CHARS,
            "max_messages": MAX_MESSAGES,
            "page_size_max": LIMIT_MAX,
            "import_max_bytes": max_import_bytes(),
            "event_stream_timeout_max_s": TIMEOUT_MAX,
        },
        "endpoints": _endpoint_map(settings.ROOT_URLCONF),
    }


class CapabilitiesApi(APIView):
    """What this server supports (the original's discovery map, with real settings)."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_capabilities",
        summary="Server capabilities",
        tags=["meta"],
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "Capabilities",
                    {
                        "object": serializers.CharField(
                            default="autoskill.capabilities"
                        ),
                        "data": serializers.DictField(
                            help_text="version, llm, embeddings, retrieval, "
                            "extraction, limits, endpoints (path templates)."
                        ),
                    },
                )
            ),
            **error_responses(401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "object": "autoskill.capabilities",
                "data": capabilities(user=request.user),
            }
        )
