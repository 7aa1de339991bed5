from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """Before/after evaluation of skill learning (`manage.py evaluate`) and its reports."""

    name = "evaluation"
    verbose_name = "Evaluation"
    default_auto_field = "django.db.models.BigAutoField"
