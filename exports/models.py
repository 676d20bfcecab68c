"""ExportJob: the status row of one export, which the admin page, the API and the Celery task share."""
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from labeling.jobs import enqueue_on_commit
from exports.spec import DATASETS, FORMATS, ExportSpec
from labeling.transitions import InvalidTransition, StateMachine

__all__ = ["ExportJob", "ExportStatus", "EXPORT_STATES", "InvalidTransition"]


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Ready"
    FAILED = "failed", "Failed"


EXPORT_STATES = StateMachine("export job", "status", {
    ExportStatus.QUEUED: {ExportStatus.RUNNING, ExportStatus.FAILED},
    ExportStatus.RUNNING: {ExportStatus.SUCCEEDED, ExportStatus.FAILED},
    ExportStatus.SUCCEEDED: set(),
    ExportStatus.FAILED: set(),
})

# The admin page and the API read progress from this row; writing it more often only adds load.
PROGRESS_INTERVAL_SECONDS = 0.5


def export_root():
    return Path(settings.MEDIA_ROOT) / "exports"


class ExportJob(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="export_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="export_jobs")
    dataset = models.CharField(max_length=16, choices=list(DATASETS.items()))
    format = models.CharField(max_length=16, choices=list(FORMATS.items()), default="jsonl")
    options = models.JSONField(default=dict, blank=True,
                               help_text="The whole export spec: filters, split, seed, margin, pseudonymize.")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED,
                              db_index=True)
    rows_total = models.BigIntegerField(null=True, blank=True, help_text="Rows the export will write.")
    rows_written = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    file_path = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Export {self.pk}: {self.dataset} as {self.format} ({self.status})"

    @classmethod
    def create(cls, spec, user, enqueue=True):
        """Store a job for a checked spec and, unless the caller runs it itself (the management command),
        queue it once the transaction commits."""
        job = cls.objects.create(project_id=spec.project_id, created_by=user, dataset=spec.dataset,
                                 format=spec.format, options=spec.to_dict())
        if enqueue:
            enqueue_on_commit("exports.run_export_job", job.pk)
        return job

    @property
    def spec(self):
        return ExportSpec.from_dict(self.options)

    @property
    def folder(self):
        return export_root() / str(self.pk)

    @property
    def progress_percent(self):
        if self.status == ExportStatus.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(100, int(100 * self.rows_written / self.rows_total))

    @property
    def filename(self):
        return Path(self.file_path).name if self.file_path else ""

    def run(self, on_progress=None):
        """Claim the job, write the export, and record the outcome on this row. `on_progress(done, total)`
        is called after every batch of rows (the command's progress bar). Returns False when another
        worker claimed the job first (a redelivered message): the status UPDATE is conditional, so two
        workers never both run it."""
        from exports.runner import run_export

        if not EXPORT_STATES.move(self, ExportStatus.RUNNING, started_at=timezone.now()):
            return False
        last = 0.0

        def record_progress(done, total):
            nonlocal last
            if on_progress:
                on_progress(done, total)
            if time.monotonic() - last >= PROGRESS_INTERVAL_SECONDS or done == total:
                last = time.monotonic()
                ExportJob.objects.filter(pk=self.pk).update(rows_written=done, rows_total=total)

        try:
            shutil.rmtree(self.folder, ignore_errors=True)
            path, rows = run_export(self.spec, self.folder, record_progress)
        except Exception as exc:
            # Refused only if something else already failed the job; failed it is either way.
            EXPORT_STATES.move(self, ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000],
                               finished_at=timezone.now())
            raise
        return EXPORT_STATES.move(self, ExportStatus.SUCCEEDED, file_path=str(path), rows_written=rows,
                                  rows_total=rows, finished_at=timezone.now())
