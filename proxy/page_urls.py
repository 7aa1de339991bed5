"""URLs of the browser pages (`proxy.pages`, `proxy.skill_*`), included at the site root."""

from django.urls import path

from proxy import pages, skill_edit_pages, skill_import_page, skill_pages

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
    # Literal paths first, so none of them is ever read as a skill id.
    path("skills/", skill_pages.skill_list_view, name="skill-list"),
    path("skills/new/", skill_edit_pages.skill_create_view, name="skill-create"),
    path(
        "skills/validate/",
        skill_edit_pages.skill_validate_view,
        name="skill-validate",
    ),
    path("skills/import/", skill_import_page.skill_import_view, name="skill-import"),
    path(
        "skills/export.zip",
        skill_pages.skill_export_all_view,
        name="skill-export-all",
    ),
    path("skills/<uuid:skill_id>/", skill_pages.skill_detail_view, name="skill-detail"),
    path(
        "skills/<uuid:skill_id>/edit/",
        skill_edit_pages.skill_edit_view,
        name="skill-edit",
    ),
    path(
        "skills/<uuid:skill_id>/history/",
        skill_pages.skill_history_view,
        name="skill-history",
    ),
    path(
        "skills/<uuid:skill_id>/rollback/",
        skill_pages.skill_rollback_view,
        name="skill-rollback",
    ),
    path(
        "skills/<uuid:skill_id>/status/",
        skill_pages.skill_status_view,
        name="skill-status",
    ),
    path(
        "skills/<uuid:skill_id>/delete/",
        skill_pages.skill_delete_view,
        name="skill-delete",
    ),
    path(
        "skills/<uuid:skill_id>/export.zip",
        skill_pages.skill_export_view,
        name="skill-export",
    ),
]
