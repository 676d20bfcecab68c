import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.production import refuse_unsafe_secret_key  # noqa: E402  (needs the settings loaded above)

refuse_unsafe_secret_key()

# Import every view now, as the worker starts, not at its first request: the URLconf pulls in the API and
# what it imports (scipy.special for the model comparison, among others), about 0.3-0.4 s that the first
# labeler served by each gunicorn worker after a restart would otherwise wait for.
import_module(settings.ROOT_URLCONF)
