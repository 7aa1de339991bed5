"""/health and /ready."""

from django.urls import path

from proxy.health import health, ready

urlpatterns = [
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
]
