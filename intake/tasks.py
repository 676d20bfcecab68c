"""The intake's Celery tasks: they take a filing's id and re-read its row (intake.filing), so a redelivered
message, or the sweep's copy of one that did arrive, is harmless."""
from celery import Task, shared_task
from django.db import DatabaseError

from intake import filing


class FilingTask(Task):
    """A filing the task gives up on is failed on its row, where the admin sees why. With the database down,
    that write fails too and the filing stays pending, for the sweep to queue again."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        filing.record_failure(args[0], f"{type(exc).__name__}: {exc}")


@shared_task(name=filing.FILE_PROMPT_TASK, base=FilingTask, autoretry_for=(DatabaseError,), retry_backoff=True,
             max_retries=5)
def file_prompt(filing_id):
    outcome = filing.file_prompt(filing_id)
    return outcome and outcome.value


@shared_task(name=filing.REQUEUE_TASK)
def requeue_pending_filings():
    """Beat's sweep: queue again the filings still pending a while after their call (intake.filing.overdue)."""
    overdue = filing.overdue()
    for filing_id in overdue:
        file_prompt.apply_async((filing_id,), expires=filing.PENDING_GRACE.total_seconds())
    return len(overdue)
