from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Prompt intake from API users"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # As for exports and rewards: the worker autodiscovers only its own package.
        from intake import tasks  # noqa: F401
