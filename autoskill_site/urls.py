from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

from autoskill_site.env import env_str

urlpatterns = [
    path(env_str("DJANGO_ADMIN_PATH", "admin/"), admin.site.urls),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
]
