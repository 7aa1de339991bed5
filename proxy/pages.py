"""The browser pages of the chat: login, the chat screen and the session export.

The pages render the conversation from the database; everything live (tokens, the
retrieval panel of a new turn, job status, session list changes) arrives over the
`/ws/chat/` socket (`proxy.consumers.ChatConsumer`) and is drawn by
`static/js/chat.js`. Every page sends a strict Content-Security-Policy, which is why
the templates hold no inline script or style: data for the script travels in
`data-*` attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from autoskill_site.exceptions import NotFound
from proxy.chat_sessions import (
    chat_session_export_json,
    chat_session_get,
    chat_session_list,
    chat_session_settings,
)
from proxy.models import CHAT_MAX_TOP_K, ChatMessage, ChatRole, ChatSession

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "MAX_SIDEBAR_SESSIONS",
    "chat_export_view",
    "chat_view",
    "csp",
    "home_view",
    "login_view",
    "logout_view",
]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "connect-src 'self' ws: wss:",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The sidebar is a navigation aid, not an archive; export covers the rest.
MAX_SIDEBAR_SESSIONS = 200

_SKILL_ID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"

View = Callable[..., HttpResponse]


def csp(view: View) -> View:
    """Send the pages' Content-Security-Policy with every response of `view`."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return wrapped


login_view = csp(
    auth_views.LoginView.as_view(
        template_name="registration/login.html", redirect_authenticated_user=True
    )
)
# Django 5 accepts only POST here, so a link or prefetch cannot log anyone out.
logout_view = csp(auth_views.LogoutView.as_view(next_page="login"))


@csp
@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    """The landing page; a signed-in user goes straight to the chat."""
    if request.user.is_authenticated:
        return redirect("chat")
    return render(request, "home.html")


def _turns(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Messages as the template shows them, each reply with its turn panel data."""
    rows = []
    for message in messages:
        trace = message.trace or {}
        rows.append(
            {
                "message": message,
                "is_user": message.role == ChatRole.USER,
                "retrieval": trace.get("retrieval"),
                "extraction": trace.get("extraction"),
            }
        )
    return rows


def _skill_url_prefix() -> str:
    """Where `/skills/<id>/` pages live, for skill links built in the browser."""
    url = reverse("skill-detail", args=[_SKILL_ID_PLACEHOLDER])
    return url.partition(_SKILL_ID_PLACEHOLDER)[0]


@csp
@login_required
@require_GET
def chat_view(request: HttpRequest, session_id: str | None = None) -> HttpResponse:
    """The chat screen; with `session_id`, that session's conversation loaded."""
    session = None
    messages: list[ChatMessage] = []
    if session_id is not None:
        try:
            session = chat_session_get(user=request.user, session_id=session_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        messages = list(
            ChatMessage.objects.filter(session_id=session.pk).order_by("seq")
        )
    sessions = list(chat_session_list(user=request.user)[:MAX_SIDEBAR_SESSIONS])
    # No session yet: the controls start from the defaults a new session would get.
    settings = chat_session_settings(session or ChatSession(owner=request.user))
    return render(
        request,
        "chat.html",
        {
            "session": session,
            "sessions": sessions,
            "turns": _turns(messages),
            "chat_settings": settings,
            "max_top_k": CHAT_MAX_TOP_K,
            "skill_url": _skill_url_prefix(),
        },
    )


@csp
@login_required
@require_GET
def chat_export_view(request: HttpRequest, session_id: str) -> HttpResponse:
    """The session as a JSON download (owner only; anyone else gets 404)."""
    try:
        document = chat_session_export_json(user=request.user, session_id=session_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    filename = f"chat-{document['session']['id']}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
