from django.urls import path

from proxy.api.urls import api_urlpatterns
from proxy.apis import SkillSearchApi
from proxy.openai_urls import urlpatterns as openai_urlpatterns

app_name = "proxy"

v1_urlpatterns = [
    *openai_urlpatterns,
    path("autoskill/skills/search", SkillSearchApi.as_view(), name="skill-search"),
    *api_urlpatterns,  # each path starts with autoskill/
]
