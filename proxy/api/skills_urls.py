"""Routes of the skill endpoints; every path is relative to /v1/."""

from django.urls import path

from proxy.api.skills import SkillDetailApi, SkillListApi
from proxy.api.skills_md import SkillMdApi
from proxy.api.skills_transfer import SkillExportApi, SkillImportApi
from proxy.api.skills_versions import SkillRollbackApi, SkillVersionsApi

# `import` (and `search`, routed in proxy/urls.py) come before `<skill_id>`, so they
# are never read as ids. Ids are matched as strings so that a malformed one answers
# 400 with a message instead of an unexplained 404.
urlpatterns = [
    path("autoskill/skills", SkillListApi.as_view(), name="skill-list"),
    path("autoskill/skills/import", SkillImportApi.as_view(), name="skill-import"),
    path(
        "autoskill/skills/<str:skill_id>", SkillDetailApi.as_view(), name="skill-detail"
    ),
    path("autoskill/skills/<str:skill_id>/md", SkillMdApi.as_view(), name="skill-md"),
    path(
        "autoskill/skills/<str:skill_id>/versions",
        SkillVersionsApi.as_view(),
        name="skill-versions",
    ),
    path(
        "autoskill/skills/<str:skill_id>/rollback",
        SkillRollbackApi.as_view(),
        name="skill-rollback",
    ),
    path(
        "autoskill/skills/<str:skill_id>/export",
        SkillExportApi.as_view(),
        name="skill-export",
    ),
]
