"""Routes of the API's description: the OpenAPI document and Swagger UI for humans."""

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

urlpatterns = [
    path(
        "autoskill/openapi.json",
        SpectacularJSONAPIView.as_view(),
        name="openapi-schema",
    ),
    path(
        "autoskill/docs",
        # The namespace of v1 routes is "proxy" (autoskill_site/urls.py).
        SpectacularSwaggerView.as_view(url_name="proxy:openapi-schema"),
        name="openapi-docs",
    ),
]
