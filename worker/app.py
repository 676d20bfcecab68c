"""The Celery app, configured from Django settings (the CELERY_ prefix)."""
import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rankwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["worker"])


@worker_init.connect
@beat_init.connect
def refuse_unsafe_secret_key(**kwargs):
    # Exports sign labeler pseudonyms with the key: a worker must not run on the development one. Celery logs
    # and ignores a receiver's exceptions, but not SystemExit.
    from django.core.exceptions import ImproperlyConfigured

    from config.production import refuse_unsafe_secret_key as refuse

    try:
        refuse()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"refusing to start: {exc}") from None
