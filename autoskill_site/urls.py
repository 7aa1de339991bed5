from django.contrib import admin
from django.urls import include, path

from autoskill_site.env import env_str
from proxy.health_urls import urlpatterns as health_urlpatterns
from proxy.urls import v1_urlpatterns

urlpatterns = [
    path(env_str("DJANGO_ADMIN_PATH", "admin/"), admin.site.urls),
    path("v1/", include((v1_urlpatterns, "proxy"))),
    *health_urlpatterns,
    path("", include("proxy.page_urls")),
]

handler404 = "proxy.errors.handler404"
handler500 = "proxy.errors.handler500"
