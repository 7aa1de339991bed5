"""WebSocket routes of every app, collected in one place for asgi.py."""

from django.urls import path

from autoskill_site.consumers import PingConsumer
from proxy.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/chat/", ChatConsumer.as_asgi()),
]
