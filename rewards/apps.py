from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The Celery worker autodiscovers only the worker package; importing here registers the
        # reward tasks in every process that sets up Django, the worker included.
        from rewards import tasks  # noqa: F401
