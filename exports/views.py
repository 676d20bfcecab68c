from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from exports.models import ExportJob, ExportStatus


def download(request, job_id):
    """Stream a finished export to an admin (FileResponse reads the file in chunks)."""
    if not request.user.has_perm("labeling.manage_project"):
        raise PermissionDenied
    job = get_object_or_404(ExportJob, pk=job_id)
    if job.status != ExportStatus.SUCCEEDED:
        raise Http404("this export is not ready")
    try:
        file = open(job.file_path, "rb")
    except OSError:
        raise Http404("the export file is gone") from None
    return FileResponse(file, as_attachment=True, filename=job.filename)
