"""Routes of the REST API under /v1/autoskill/ (each area owns its module)."""

from proxy.api.extraction_urls import urlpatterns as extraction_urlpatterns
from proxy.api.meta_urls import urlpatterns as meta_urlpatterns
from proxy.api.skills_urls import urlpatterns as skills_urlpatterns

api_urlpatterns = [*skills_urlpatterns, *extraction_urlpatterns, *meta_urlpatterns]
