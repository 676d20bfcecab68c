"""The Celery app, configured from Django settings (the CELERY_ prefix). It sits beside the settings, as
Celery's Django layout has it: `celery -A config` finds it here, and config/__init__.py loads it whenever
Django starts."""
import os

from celery import Celery
from celery.signals import beat_init, worker_init
from django.core.exceptions import ImproperlyConfigured

from config.production import refuse_unsafe_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rankwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
# worker is no Django app; rewards, exports and intake register their tasks in their AppConfig.ready().
app.autodiscover_tasks(["worker"])


@worker_init.connect
@beat_init.connect
def refuse_to_start_on_an_unsafe_secret_key(**kwargs):
    # Exports sign labeler pseudonyms with the key: a worker must not run on the development one. Celery logs
    # and ignores a receiver's exceptions, but not SystemExit.
    try:
        refuse_unsafe_secret_key()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"refusing to start: {exc}") from None
