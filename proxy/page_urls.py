"""URLs of the browser pages (`proxy.pages`), included at the site root."""

from django.urls import path

from proxy import pages

urlpatterns = [
    path("", pages.home_view, name="home"),
    path("login/", pages.login_view, name="login"),
    path("logout/", pages.logout_view, name="logout"),
    path("chat/", pages.chat_view, name="chat"),
    path("chat/<str:session_id>/", pages.chat_view, name="chat-session"),
    path(
        "chat/<str:session_id>/export.json",
        pages.chat_export_view,
        name="chat-export",
    ),
]
