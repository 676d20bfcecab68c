"""Filing an API user's prompt into their project's pool: consent first, personal data masked (or the prompt
refused), at most `prompt_cap` prompts per user, and no two prompts with a long common prefix."""
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import Count, Q

from intake.filters import dedup_key, mask_messages
from intake.models import ApiUser, IntakeRecord
from labeling import workflow
from labeling.models import PromptSource
from rankdata.text import conversation_text

log = logging.getLogger(__name__)


class Outcome(models.TextChoices):
    STORED = "stored", "Filed into the project's pool"
    NO_CONSENT = "no_consent", "Not stored: the user did not consent"
    PERSONAL_DATA = "refused_personal_data", "Not stored: it held personal data"
    CAP_REACHED = "cap_reached", "Not stored: the user's prompt cap is reached"
    DUPLICATE = "duplicate", "Not stored: a prompt with the same long prefix is in the pool"
    INVALID = "invalid", "Not stored: not a prompt the pool takes"
    FAILED = "failed", "Not stored: the database failed"


def file_prompt(api_user, messages):
    """File `messages` (the conversation the caller sent) for `api_user`; returns an Outcome. Never raises
    for the data or the database: the caller has their answer whatever happens here."""
    if not api_user.consent:
        return Outcome.NO_CONSENT
    masked, found = mask_messages(messages)
    if found and settings.RANKWISE_INTAKE_PERSONAL_DATA == "refuse":
        return Outcome.PERSONAL_DATA
    key = dedup_key(conversation_text(masked))
    try:
        with transaction.atomic():
            # The user's row lock makes one user's concurrent calls file one at a time, so the cap holds.
            ApiUser.objects.select_for_update().filter(pk=api_user.pk).first()
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
    except DatabaseError:
        log.exception("filing an API prompt of %s failed", api_user)
        return Outcome.FAILED
    return Outcome.STORED
