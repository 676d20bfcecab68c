"""Queue a Celery task by name once the current transaction commits.

By name, so that the code that queues work (labeling, rewards, exports) never imports the code that does
it (worker, the training and export tasks): the dependency arrows point one way. After commit, so that a
task never runs on rows a rolled-back transaction did not keep. CELERY_TASK_ROUTES picks the queue by name."""
from celery import current_app
from celery.utils import uuid
from django.db import transaction


def enqueue_on_commit(task_name, *args):
    """Returns the task id the message will carry, so a status row can record it in the same transaction."""
    task_id = uuid()
    # A signature resolves to the registered task where the process has it (so eager mode in tests
    # still applies) and to send_task by name where it does not (the web process).
    transaction.on_commit(lambda: current_app.signature(task_name, args=args).apply_async(task_id=task_id))
    return task_id
