from celery import shared_task
from django.db import DatabaseError

from intake import filing


@shared_task(name=filing.FILE_PROMPT_TASK, autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5)
def file_prompt(api_user_id, masked, found):
    """Takes the API user's id and re-reads the row, so a redelivered message is harmless: the second
    filing of a prompt is a duplicate of the first."""
    return filing.file_prompt(api_user_id, masked, found).value
