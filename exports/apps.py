from django.apps import AppConfig


class ExportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "exports"
    verbose_name = "Dataset exports"

    def ready(self):
        # The Celery app autodiscovers only the worker package; importing the tasks here registers them
        # in every process that sets up Django, the worker included.
        from exports import tasks  # noqa: F401
