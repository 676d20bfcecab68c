import logging

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class LoginRequiredEverywhere(LoginRequiredMiddleware):
    """Every page needs a login. API views answer 401/403 in JSON through DRF's IsAuthenticated
    instead of redirecting to the login page, which a script could not follow."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestBodyLimit:
    """Refuse an oversized body from its Content-Length, before anything reads it: a labeler's request is
    a few KB, and parsing and checking megabytes of JSON would tie up a web worker for seconds. File
    uploads (multipart) have their own, larger limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"body": "the Content-Length header is not a number"}, status=400)
        if request.content_type == "multipart/form-data":
            limit, what = settings.RANKWISE_MAX_UPLOAD_BYTES, "an upload"
        else:
            limit, what = settings.RANKWISE_MAX_REQUEST_BYTES, "a request body"
        if length > limit:
            return JsonResponse({"body": f"is {length} bytes; the limit for {what} is {limit} bytes"}, status=413)
        return self.get_response(request)


class DatabaseUnavailable:
    """While PostgreSQL is down or restarting, answer 503 (try again shortly) instead of a server error.
    Nothing is half-stored: each submit is one transaction, and retrying it is safe (submits are idempotent).
    The next request after the database is back reconnects (CONN_HEALTH_CHECKS)."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable (%s): answering 503 to %s", exception, request.path)
        response = JsonResponse({"detail": "The database is unavailable for a moment; nothing was lost. Try again "
                                           "in a few seconds."}, status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response
