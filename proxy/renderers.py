"""Renderers of the /v1 REST API: JSON for programs, the browsable API for humans."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API for successful responses; errors stay OpenAI JSON envelopes.

    A browser sends `Accept: text/html`, so content negotiation picks this renderer even
    for a 400 or 404. OpenAI clients and scripts parse `{"error": {...}}` whatever they
    asked for, and an HTML error page would also be rewritten by OpenAIErrorMiddleware
    into a message-less envelope, so errors are rendered as JSON here with the real text.
    """

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            json_renderer = renderers.JSONRenderer()
            response["Content-Type"] = json_renderer.media_type
            return json_renderer.render(
                data, json_renderer.media_type, renderer_context
            )
        return super().render(data, accepted_media_type, renderer_context)
