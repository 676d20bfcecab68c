"""Celery task for exports: it takes an id, re-reads the row and returns early if the job is gone or
no longer queued, so a redelivered message does nothing."""
from celery import shared_task


@shared_task(name="exports.run_export_job")
def run_export_job(job_id):
    from exports.models import ExportJob, ExportStatus

    job = ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).first()
    if job is None or not job.run():
        return None  # gone, done, or claimed by another worker first
    return job.rows_written
