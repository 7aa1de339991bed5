"""Staff pages of stored evaluation runs."""

from django.urls import path

from evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("", views.run_list_view, name="run-list"),
    path("<int:run_id>/", views.run_detail_view, name="run-detail"),
]
