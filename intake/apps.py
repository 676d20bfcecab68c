from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Prompt intake from API users"
    default_auto_field = "django.db.models.BigAutoField"
