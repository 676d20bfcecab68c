"""Queue a Celery task by name once the current transaction commits.

By name, so that the code that queues work (labeling, rewards, exports) never imports the code that does
it (worker, the training and export tasks): the dependency arrows point one way. After commit, so that a
task never runs on rows a rolled-back transaction did not keep. CELERY_TASK_ROUTES picks the queue by name."""
import logging

from celery import current_app
from celery.utils import uuid
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name, *args):
    """Returns the task id the message will carry, so a status row can record it in the same transaction.

    With the broker unreachable the rows are kept all the same and the request succeeds: the work waits
    for a sweep (generation: the requeue sweep; exports and imports: the stale-job sweep says why)."""
    task_id = uuid()

    def send():
        # A signature resolves to the registered task where the process has it (so eager mode in tests
        # still applies) and to send_task by name where it does not (the web process).
        try:
            current_app.signature(task_name, args=args).apply_async(task_id=task_id)
        except OperationalError as exc:
            logger.warning("broker unreachable (%s): %s%r was not queued and waits for its sweep", exc, task_name,
                           args)

    transaction.on_commit(send)
    return task_id
