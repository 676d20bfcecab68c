"""Filing an API user's prompt into their project's pool, in two parts joined by an outbox (intake.models.Filing).

On the response path (`accept`), only what must be decided before the prompt leaves the web process:
consent (without it nothing is stored), and personal data masked (or the prompt refused), so that neither
the database nor the broker ever holds it unmasked. The masked conversation is then one INSERT, a pending
filing, whose id is queued after commit. The rest (`file_prompt`) runs in a Celery task: at most
`prompt_cap` prompts per user and no two prompts with a long common prefix, which need the database and
its locks and cost the caller nothing once they are off the response path. A filing whose message never
reached the broker is queued again by beat's sweep (`overdue`)."""
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from intake.filters import dedup_key, mask_messages
from intake.models import FILING_STATES, Filing, IntakeRecord, Outcome
from labeling import workflow
from labeling.jobs import enqueue_on_commit
from labeling.models import PromptSource
from rankdata.text import conversation_text

logger = logging.getLogger(__name__)

# Renamed from intake.file_prompt when the task's argument became a filing id: a message of the old task
# (a user id and a conversation) left in the broker is refused as unknown, not read as a filing id.
FILE_PROMPT_TASK = "intake.file_pending_prompt"
REQUEUE_TASK = "intake.requeue_pending_filings"
# A filing still pending this long after its call was most likely never queued (the broker was down at
# commit); the worker takes a queued one within moments. The sweep's copies expire after as long, when the
# next sweep sends another, so a backlog of pending filings does not pile up copies in the broker.
PENDING_GRACE = timedelta(minutes=1)


def accept(api_user, messages):
    """The response path's part: returns QUEUED (a pending filing, queued after commit), NO_CONSENT,
    PERSONAL_DATA or NOT_QUEUED. Regular expressions, one INSERT and a broker send."""
    if not api_user.consent:
        return Outcome.NO_CONSENT
    masked, found = mask_messages(messages)
    if found and settings.RANKWISE_INTAKE_PERSONAL_DATA == "refuse":
        return Outcome.PERSONAL_DATA
    try:
        filing = Filing.objects.create(api_user_id=api_user.pk, project_id=api_user.project_id, messages=masked,
                                       masked=found)
    except DatabaseError as exc:
        # The caller came for the answer, which is ready: the database being down (or the user deleted
        # within the token cache's seconds) costs the filing, not the answer.
        logger.error("intake: the filing of API user %s could not be written: %s", api_user.pk, exc)
        return Outcome.NOT_QUEUED
    enqueue_on_commit(FILE_PROMPT_TASK, filing.pk)
    return Outcome.QUEUED


def file_prompt(filing_id):
    """The worker's part: file a pending filing and record its outcome on its row, emptying its
    conversation. Returns the Outcome, or None when the filing is gone or already has one (a redelivered
    message, or the sweep's copy of a message that did arrive). Database errors other than a duplicate
    propagate, so the task retries them."""
    with transaction.atomic():
        # One statement locks the filing and its user's row. The filing's lock makes a second message for
        # it wait here and then find it no longer pending, so it is filed once. The user's lock makes one
        # user's filings run one at a time (however many workers take them), so the cap holds; and consent
        # is read from the locked row, so a filing queued before the user withdrew consent stores nothing.
        # The project is read, not locked: filings into one project need not wait for each other.
        filing = (Filing.objects.select_for_update(of=("self", "api_user")).select_related("api_user", "project")
                  .filter(pk=filing_id, status=Outcome.QUEUED).first())
        if filing is None:
            return None
        outcome = _outcome(filing)
        FILING_STATES.move(filing, outcome, messages=[], finished_at=timezone.now())
    return outcome


def _outcome(filing):
    """Files `filing` (its row and its user's locked) unless a rule refuses it; returns the Outcome."""
    api_user = filing.api_user
    if not api_user.consent:
        return Outcome.NO_CONSENT
    key = dedup_key(conversation_text(filing.messages))
    seen = IntakeRecord.objects.filter(Q(api_user=api_user) | Q(project_id=filing.project_id,
                                                                 dedup_key=key)).aggregate(
        mine=Count("pk", filter=Q(api_user=api_user)),
        same_prefix=Count("pk", filter=Q(project_id=filing.project_id, dedup_key=key)))
    if seen["mine"] >= api_user.prompt_cap:
        return Outcome.CAP_REACHED
    if seen["same_prefix"]:
        return Outcome.DUPLICATE
    try:
        with transaction.atomic():  # a savepoint: the outcome is recorded even when this rolls back
            prompt = workflow.create_prompt(filing.project, messages=filing.messages, source=PromptSource.API,
                                            split_group=api_user.split_group)
            IntakeRecord.objects.create(api_user=api_user, project_id=filing.project_id, prompt=prompt,
                                        dedup_key=key, masked=filing.masked)
    except IntegrityError:
        return Outcome.DUPLICATE  # another user's prompt with this prefix was filed at the same moment
    except ValidationError:
        return Outcome.INVALID
    return Outcome.STORED


def record_failure(filing_id, error):
    """The task gave up on the filing: it is failed, with the error, and its conversation emptied like any
    outcome's. Nothing changes when it has an outcome already."""
    return FILING_STATES.move_all(Filing.objects.filter(pk=filing_id), [Outcome.QUEUED], Outcome.FAILED,
                                  error=error[:2000], messages=[], finished_at=timezone.now())


def overdue():
    """The ids of filings still pending PENDING_GRACE after their call, for the sweep to queue again."""
    return list(Filing.objects.filter(status=Outcome.QUEUED, created_at__lt=timezone.now() - PENDING_GRACE)
                .order_by("pk").values_list("pk", flat=True))
