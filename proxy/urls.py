from django.urls import path

from proxy.apis import SkillSearchApi

app_name = "proxy"

v1_urlpatterns = [
    path("autoskill/skills/search", SkillSearchApi.as_view(), name="skill-search"),
]
