from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from labeling.roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="rankwise.sync_roles")
