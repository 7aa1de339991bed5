import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from autoskill_site.env import env_str
from autoskill_site.metrics import metrics_view
from autoskill_site.static_files import static_file
from proxy.health_urls import urlpatterns as health_urlpatterns
from proxy.urls import v1_urlpatterns

urlpatterns = [
    path(env_str("DJANGO_ADMIN_PATH", "admin/"), admin.site.urls),
    path("v1/", include((v1_urlpatterns, "proxy"))),
    *health_urlpatterns,
    path("metrics", metrics_view, name="metrics"),
    path("evaluations/", include("evaluation.urls")),
    path("", include("proxy.page_urls")),
]
# Only for a STATIC_URL on this site (a CDN URL serves itself).
if settings.AUTOSKILL_SERVE_STATIC and "://" not in settings.STATIC_URL:
    prefix = re.escape(settings.STATIC_URL.lstrip("/"))
    urlpatterns.insert(
        0, re_path(rf"^{prefix}(?P<path>.+)$", static_file, name="static-file")
    )

handler404 = "proxy.errors.handler404"
handler500 = "proxy.errors.handler500"
