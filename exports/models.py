"""ExportJob: the status row of one export, which the admin page, the API and the Celery task share."""
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from exports.spec import DATASETS, FORMATS, ExportSpec


class InvalidTransition(Exception):
    pass


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Ready"
    FAILED = "failed", "Failed"


EXPORT_TRANSITIONS = {
    ExportStatus.QUEUED: {ExportStatus.RUNNING, ExportStatus.FAILED},
    ExportStatus.RUNNING: {ExportStatus.SUCCEEDED, ExportStatus.FAILED},
    ExportStatus.SUCCEEDED: set(),
    ExportStatus.FAILED: set(),
}

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
        from exports.tasks import run_export_job

        job = cls.objects.create(project_id=spec.project_id, created_by=user, dataset=spec.dataset,
                                 format=spec.format, options=spec.to_dict())
        if enqueue:
            transaction.on_commit(lambda: run_export_job.apply_async((job.pk,), queue="default"))
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

    def _move(self, new_status, **fields):
        """The one place a job changes status. The UPDATE is conditional on the current status, so two
        workers that received the same task cannot both run it: the second one changes no row."""
        if new_status not in EXPORT_TRANSITIONS[ExportStatus(self.status)]:
            raise InvalidTransition(f"export {self.pk}: {self.status} -> {new_status} is not allowed")
        changed = ExportJob.objects.filter(pk=self.pk, status=self.status).update(status=new_status, **fields)
        if changed != 1:
            raise InvalidTransition(f"export {self.pk} changed status concurrently")
        self.status = new_status
        for name, value in fields.items():
            setattr(self, name, value)

    def run(self, on_progress=None):
        """Claim the job, write the export, and record the outcome on this row. `on_progress(done, total)`
        is called after every batch of rows (the command's progress bar)."""
        from exports.runner import run_export

        self._move(ExportStatus.RUNNING, started_at=timezone.now())
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
            self._move(ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000],
                       finished_at=timezone.now())
            raise
        self._move(ExportStatus.SUCCEEDED, file_path=str(path), rows_written=rows, rows_total=rows,
                   finished_at=timezone.now())
