"""Routes of the OpenAI-compatible endpoints (/v1/chat/completions, /v1/embeddings, /v1/models)."""

from django.urls import path

from proxy.openai_views import chat_completions, embeddings, models

urlpatterns = [
    path("chat/completions", chat_completions, name="chat-completions"),
    path("embeddings", embeddings, name="embeddings"),
    path("models", models, name="models"),
]
