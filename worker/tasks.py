"""Celery tasks. They take ids, re-read the rows, and return early when the work is gone or done,
so a retried or redelivered task is harmless. The work itself lives in worker/generation_jobs.py."""
from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import transaction

from labeling import quality
from worker import generation_jobs

GENERATION_TIME_LIMIT = settings.RANKWISE_GENERATION_TIME_LIMIT


def enqueue_generation(prompt_id):
    """Queue candidate generation once the current transaction commits (a rollback queues nothing)."""
    transaction.on_commit(lambda: generate_candidates.delay([prompt_id]))


class GenerationTask(Task):
    """Once a generation task gives up, the reason is written on its prompts, where the admin sees it."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        prompt_ids = getattr(exc, "prompt_ids", None) or args[0]
        generation_jobs.record_failure(prompt_ids, str(exc) or type(exc).__name__)


@shared_task(name="worker.generate_candidates", bind=True, base=GenerationTask, max_retries=3,
             time_limit=GENERATION_TIME_LIMIT, soft_time_limit=GENERATION_TIME_LIMIT - min(60, GENERATION_TIME_LIMIT // 10))
def generate_candidates(self, prompt_ids):
    try:
        return generation_jobs.generate_for_prompts(prompt_ids, owner=self.request.id or "")
    except generation_jobs.GenerationFailed as exc:
        if not exc.transient:
            raise  # a model that cannot load will not load on retry: fail now
        # Out of memory (another job on the GPU) may pass: try again after a growing, jittered pause;
        # past max_retries, retry() raises `exc` and on_failure records it.
        raise self.retry(exc=exc, countdown=get_exponential_backoff_interval(
            factor=30, retries=self.request.retries, maximum=600, full_jitter=True))


@shared_task(name="worker.requeue_waiting_prompts")
def requeue_waiting_prompts():
    return generation_jobs.requeue_waiting(generate_candidates.delay)


@shared_task(name="worker.refresh_agreement_alpha")
def refresh_agreement_alpha():
    """Krippendorff's alpha needs every ranking at once: refreshed here, read from the database by pages."""
    return quality.refresh_stale_alphas()
