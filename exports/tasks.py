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


@shared_task(name="exports.fail_stale_exports")
def fail_stale_exports():
    """Beat's sweep (every few minutes) of export and import jobs: see JobQuerySet.fail_stale."""
    from exports.models import ExportJob, ImportJob

    return ExportJob.objects.fail_stale() + ImportJob.objects.fail_stale()


@shared_task(name="exports.run_import_job")
def run_import_job(job_id):
    """Store a checked import; like the export task, a redelivered message finds the job no longer queued."""
    from exports.models import ExportStatus, ImportJob

    job = ImportJob.objects.select_related("project").filter(pk=job_id, status=ExportStatus.QUEUED).first()
    if job is None or not job.run():
        return None
    return job.prompts_done
