"""Django's stock middleware, minus a thread hop per hook on async requests.

Under ASGI, `MiddlewareMixin` runs every `process_request`/`process_response` through
`sync_to_async(thread_sensitive=True)`: ten hops per request through the stack below,
all queued on ONE shared thread, so concurrent proxied requests serialise there.
These hooks are pure CPU (headers, cookies, lazy objects), so the subclasses call
them inline. The only hooks that can touch the database (saving a modified session,
storing messages into the session) still hop, exactly when they would do I/O.
`RequestLogMiddleware`, first in the stack, logs and counts every request.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware

from autoskill_site.request_log import RequestRecord


class InlineHooks:
    """Mixin for a MiddlewareMixin subclass whose hooks are safe on the event loop."""

    def response_needs_thread(self, request, response) -> bool:  # noqa: ANN001
        return False

    async def __acall__(self, request):  # noqa: ANN001, ANN204
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(
                    self.process_response, thread_sensitive=True
                )(request, response)
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(InlineHooks, SecurityMiddleware):
    pass


class CommonMiddleware(InlineHooks, CommonMiddleware):
    pass


class XFrameOptionsMiddleware(InlineHooks, XFrameOptionsMiddleware):
    pass


class AuthenticationMiddleware(InlineHooks, AuthenticationMiddleware):
    """`request.user` is lazy; nothing is read until a view asks."""


class SessionMiddleware(InlineHooks, SessionMiddleware):
    """The session store is lazy; only saving an accessed session needs the database."""

    def response_needs_thread(self, request, response) -> bool:  # noqa: ANN001
        session = getattr(request, "session", None)
        return bool(session is not None and (session.accessed or session.modified))


class MessageMiddleware(InlineHooks, MessageMiddleware):
    """Storing messages may load the session from the database; only then hop."""

    def response_needs_thread(self, request, response) -> bool:  # noqa: ANN001
        storage = getattr(request, "_messages", None)
        return bool(storage is not None and (storage.used or storage.added_new))


class CsrfViewMiddleware(InlineHooks, CsrfViewMiddleware):
    """Token checks read cookies and headers only (CSRF_USE_SESSIONS is off)."""

    def __init__(self, get_response) -> None:  # noqa: ANN001
        super().__init__(get_response)
        if iscoroutinefunction(self):
            # The handler adapts process_view per mode; a coroutine is left as is.
            check = self.process_view

            async def process_view(request, callback, callback_args, callback_kwargs):  # noqa: ANN001, ANN202
                return check(request, callback, callback_args, callback_kwargs)

            self.process_view = process_view


class RequestLogMiddleware:
    """One JSON log line and the HTTP metrics per request (autoskill_site/request_log.py).

    Sync and async capable, like OpenAIErrorMiddleware: an async request never hops
    to a thread for it, and it measures nothing but clocks and headers.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:  # noqa: ANN001
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):  # noqa: ANN001, ANN204
        if iscoroutinefunction(self):
            return self.__acall__(request)
        record = RequestRecord(request)
        try:
            response = self.get_response(request)
        finally:
            record.detach()
        return record.respond(request, response)

    async def __acall__(self, request):  # noqa: ANN001, ANN204
        record = RequestRecord(request)
        try:
            response = await self.get_response(request)
        finally:
            record.detach()
        return record.respond(request, response)
