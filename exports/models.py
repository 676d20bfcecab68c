"""ExportJob: the status row of one export, which the admin page, the API and the Celery task share."""
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from labeling.jobs import enqueue_on_commit
from exports.spec import DATASETS, FORMATS, ExportSpec
from labeling.transitions import InvalidTransition, StateMachine

__all__ = ["ExportJob", "ExportStatus", "EXPORT_STATES", "IMPORT_STATES", "ImportJob", "InvalidTransition"]


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


class JobQuerySet(models.QuerySet):
    def fail_stale(self):
        """Fail export or import jobs no worker will finish, so that the admin sees why and starts them again:
        running for longer than RANKWISE_EXPORT_STALE_MINUTES (its worker died; a redelivered message leaves a
        running job alone), or still queued after that long (no worker consumes the `default` queue)."""
        cutoff = timezone.now() - timedelta(minutes=settings.RANKWISE_EXPORT_STALE_MINUTES)
        minutes = settings.RANKWISE_EXPORT_STALE_MINUTES
        reasons = [
            (self.filter(status=ExportStatus.RUNNING, started_at__lt=cutoff),
             f"still running after {minutes} minutes: its worker was probably killed; start it again"),
            (self.filter(status=ExportStatus.QUEUED, created_at__lt=cutoff),
             f"no worker took the job within {minutes} minutes: is a worker consuming the default queue running?"),
        ]
        failed = []
        for jobs, reason in reasons:
            for job in jobs:
                if job.STATES.move(job, ExportStatus.FAILED, error=reason, finished_at=timezone.now()):
                    failed.append(job.pk)  # (not if it finished a moment ago)
        return failed


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

    objects = JobQuerySet.as_manager()
    STATES = EXPORT_STATES

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


def import_root():
    return Path(settings.MEDIA_ROOT) / "imports"


IMPORT_STATES = StateMachine("import job", "status", EXPORT_STATES.table)


class ImportJob(models.Model):
    """One uploaded file being imported by a worker. The upload was checked line by line before the job was
    queued; the job stores it in one transaction (all or nothing) and reports progress on this row."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="import_jobs")
    filename = models.CharField(max_length=255)
    file_path = models.CharField(max_length=1000, blank=True, help_text="The upload, deleted once imported.")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED,
                              db_index=True)
    prompts_total = models.PositiveIntegerField(default=0, help_text="Prompts in the file.")
    prompts_done = models.PositiveIntegerField(default=0, help_text="Prompts stored so far.")
    rankings = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[line, reason] of each bad line.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()
    STATES = IMPORT_STATES

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import {self.pk}: {self.filename} ({self.status})"

    @property
    def progress_percent(self):
        if self.status == ExportStatus.SUCCEEDED:
            return 100
        return min(100, int(100 * self.prompts_done / self.prompts_total)) if self.prompts_total else 0

    @classmethod
    def create(cls, project, user, upload):
        """Keep the upload and queue the job. A file that expands to at most RANKWISE_IMPORT_CHECK_BYTES is
        checked line by line first (raises ImportFailed, keeping nothing); a bigger one is checked by the job,
        within the request's time, and a bad line then fails the job with the same line numbers."""
        from exports.importing import TooLarge, check_file, expansion_limit
        from labeling.importing import ImportFailed

        folder = import_root() / uuid.uuid4().hex
        folder.mkdir(parents=True)
        path = folder / Path(upload.name).name
        with open(path, "wb") as file:
            for chunk in upload.chunks():
                file.write(chunk)
        limit = min(settings.RANKWISE_IMPORT_CHECK_BYTES, expansion_limit())
        try:
            prompt_rows, ranked = check_file(project, path, limit=limit)
        except TooLarge as exc:
            if limit == expansion_limit():
                shutil.rmtree(folder, ignore_errors=True)
                raise ImportFailed([(exc.line, f"the file cannot be read: {exc}")]) from None
            prompt_rows, ranked = [], []  # too big to check now: the job checks it
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = cls.objects.create(project=project, created_by=user, filename=path.name, file_path=str(path),
                                 prompts_total=len(prompt_rows) + len(ranked))
        enqueue_on_commit("exports.run_import_job", job.pk)
        return job

    def run(self):
        from exports.importing import import_file
        from labeling.importing import ImportFailed

        if not IMPORT_STATES.move(self, ExportStatus.RUNNING, started_at=timezone.now()):
            return False  # another worker claimed it (a redelivered message)
        report = ProgressReport(self)
        try:
            result = import_file(self.project, self.file_path, self.filename, report)
        except ImportFailed as exc:
            IMPORT_STATES.move(self, ExportStatus.FAILED, errors=[list(e) for e in exc.errors[:1000]],
                               error=str(exc)[:5000], finished_at=timezone.now())
        except Exception as exc:
            IMPORT_STATES.move(self, ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000],
                               finished_at=timezone.now())
            raise
        else:
            IMPORT_STATES.move(self, ExportStatus.SUCCEEDED, prompts_done=result.prompts, prompts_total=result.prompts,
                               rankings=result.rankings, finished_at=timezone.now())
        finally:
            report.close()
            shutil.rmtree(Path(self.file_path).parent, ignore_errors=True)
        return True


class ProgressReport:
    """Writes an import's progress while its rows are stored in one long transaction. The writes go through a
    connection of their own, so the admin page sees them before that transaction commits (PostgreSQL; on the
    embedded SQLite the count shows at the end)."""

    def __init__(self, job):
        self.job, self.conn, self.last = job, None, 0.0
        if connection.vendor == "postgresql":
            self.conn = psycopg.connect(**connection.get_connection_params(), autocommit=True)

    def __call__(self, done, total):
        if time.monotonic() - self.last < PROGRESS_INTERVAL_SECONDS and done != total:
            return
        self.last = time.monotonic()
        if self.conn is not None:
            self.conn.execute(f"UPDATE {ImportJob._meta.db_table} SET prompts_done = %s, prompts_total = %s "
                              "WHERE id = %s", (done, total, self.job.pk))

    def close(self):
        if self.conn is not None:
            self.conn.close()
