"""Celery tasks. They take ids, re-read the rows, and return early when the work is gone or done,
so a retried or redelivered task is harmless."""
from celery import shared_task
from django.db import transaction


def enqueue_generation(prompt_id):
    """Queue candidate generation once the current transaction commits (a rollback queues nothing)."""
    transaction.on_commit(lambda: generate_candidates.delay([prompt_id]))


@shared_task(name="worker.generate_candidates")
def generate_candidates(prompt_ids):
    from worker.generation_jobs import generate_for_prompts

    return generate_for_prompts(prompt_ids)
