"""The admin's reward-model dashboard. The page is a shell; its script draws everything from the
dashboard_data endpoint and polls it while a run is active."""
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie

from labeling.models import Project


# raise_exception: a logged-in labeler gets 403, not a login page they cannot get past.
@permission_required("labeling.manage_project", raise_exception=True)
@ensure_csrf_cookie
def dashboard(request, project_id):
    project = get_object_or_404(Project, pk=project_id)
    return render(request, "rewards/dashboard.html", {"project": project})
