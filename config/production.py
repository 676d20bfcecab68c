"""What a server or worker checks before it serves anything: with DEBUG off it must have a real secret
key, because sessions, CSRF tokens and the labeler pseudonyms in exports are signed with it."""
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_CHARS = 32


def refuse_unsafe_secret_key():
    if settings.DEBUG:
        return
    key = settings.SECRET_KEY
    if key == settings.DEVELOPMENT_SECRET_KEY or len(key) < MIN_SECRET_KEY_CHARS or len(set(key)) < 8:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is missing, too short or the development key, and DEBUG is off: set it to a long "
            "random string, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'")
