from django.contrib.auth.middleware import LoginRequiredMiddleware
from rest_framework.views import APIView


class LoginRequiredEverywhere(LoginRequiredMiddleware):
    """Every page needs a login. API views answer 401/403 in JSON through DRF's IsAuthenticated
    instead of redirecting to the login page, which a script could not follow."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
