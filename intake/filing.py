"""Filing an API user's prompt into their project's pool, in two parts.

On the response path (`accept`), only what must be decided before the prompt leaves the web process:
consent (without it nothing is stored, not even in the broker), and personal data masked (or the prompt
refused), so the broker never holds it unmasked. The rest (`file_prompt`) runs in a Celery task queued
after the response's transaction: at most `prompt_cap` prompts per user and no two prompts with a long
common prefix, which need the database and its locks and cost the caller nothing once they are off the
response path."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Q

from intake.filters import dedup_key, mask_messages
from intake.models import ApiUser, IntakeRecord
from labeling import workflow
from labeling.jobs import enqueue_on_commit
from labeling.models import PromptSource
from rankdata.text import conversation_text

FILE_PROMPT_TASK = "intake.file_prompt"


class Outcome(models.TextChoices):
    QUEUED = "queued", "Masked and queued for filing"
    STORED = "stored", "Filed into the project's pool"
    NO_CONSENT = "no_consent", "Not stored: the user did not consent"
    PERSONAL_DATA = "refused_personal_data", "Not stored: it held personal data"
    CAP_REACHED = "cap_reached", "Not stored: the user's prompt cap is reached"
    DUPLICATE = "duplicate", "Not stored: a prompt with the same long prefix is in the pool"
    INVALID = "invalid", "Not stored: not a prompt the pool takes"
    GONE = "gone", "Not stored: the API user was deleted before filing"


def accept(api_user, messages):
    """The response path's part: returns QUEUED (the filing task will run after commit), NO_CONSENT or
    PERSONAL_DATA. A fraction of a millisecond for ordinary prompts: regular expressions and a broker send."""
    if not api_user.consent:
        return Outcome.NO_CONSENT
    masked, found = mask_messages(messages)
    if found and settings.RANKWISE_INTAKE_PERSONAL_DATA == "refuse":
        return Outcome.PERSONAL_DATA
    enqueue_on_commit(FILE_PROMPT_TASK, api_user.pk, masked, found)
    return Outcome.QUEUED


def file_prompt(api_user_id, masked, found):
    """The worker's part: file the (already masked) conversation for the API user; returns an Outcome.
    Database errors other than a duplicate propagate, so the task retries them."""
    key = dedup_key(conversation_text(masked))
    try:
        with transaction.atomic():
            # The user's row lock makes one user's filings run one at a time (however many workers take
            # them), so the cap holds; and consent is read from the locked row, so a filing queued before
            # the user withdrew consent stores nothing.
            api_user = ApiUser.objects.select_for_update().select_related("project").filter(pk=api_user_id).first()
            if api_user is None:
                return Outcome.GONE
            if not api_user.consent:
                return Outcome.NO_CONSENT
            seen = IntakeRecord.objects.filter(Q(api_user=api_user) | Q(project_id=api_user.project_id,
                                                                         dedup_key=key)).aggregate(
                mine=Count("pk", filter=Q(api_user=api_user)),
                same_prefix=Count("pk", filter=Q(project_id=api_user.project_id, dedup_key=key)))
            if seen["mine"] >= api_user.prompt_cap:
                return Outcome.CAP_REACHED
            if seen["same_prefix"]:
                return Outcome.DUPLICATE
            prompt = workflow.create_prompt(api_user.project, messages=masked, source=PromptSource.API,
                                            split_group=api_user.split_group)
            IntakeRecord.objects.create(api_user=api_user, project_id=api_user.project_id, prompt=prompt,
                                        dedup_key=key, masked=found)
    except IntegrityError:
        return Outcome.DUPLICATE  # another user's prompt with this prefix was filed at the same moment
    except ValidationError:
        return Outcome.INVALID
    return Outcome.STORED
