"""API users (callers of the OpenAI-compatible endpoint, one project each), their calls' filings (the
intake's outbox: what became of each prompt) and the prompts those filed into the project's pool."""
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Count, Q

from labeling.models import Project, Prompt
from labeling.transitions import StateMachine

TOKEN_PREFIX = "rw-"


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def default_prompt_cap():
    return settings.RANKWISE_INTAKE_PROMPTS_PER_USER


class ApiUserQuerySet(models.QuerySet):
    def create_with_token(self, **fields):
        """A new API user and its token; only the digest is stored, so the token is shown this once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return self.create(token_digest=token_digest(token), token_hint=token[:10], **fields), token

    def by_token(self, token):
        return self.select_related("project").filter(token_digest=token_digest(token), is_active=True).first()

    def with_filing_counts(self):
        """Each user with `filings_<status>`: how many of their filings are in each state (the admin's figures)."""
        return self.annotate(**{f"filings_{status}": Count("filings", filter=Q(filings__status=status))
                                for status in FILING_STATES.table})


class ApiUser(models.Model):
    name = models.CharField(max_length=200)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_users",
                                help_text="Whose generator answers this user and whose pool takes their prompts.")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=16, editable=False, help_text="The token's first characters.")
    consent = models.BooleanField(default=False, help_text="The user agreed that their prompts may be labeled "
                                  "and used for training. Without it nothing they send is stored.")
    prompt_cap = models.PositiveIntegerField(default=default_prompt_cap,
                                             help_text="At most this many of the user's prompts are filed.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiUserQuerySet.as_manager()

    def __str__(self):
        return f"{self.name} ({self.token_hint}…)"

    @property
    def split_group(self):
        return f"api-user:{self.pk}"


class IntakeRecord(models.Model):
    """One prompt an API user's call filed. The (project, dedup_key) constraint is what keeps two prompts
    with a long common prefix out, even when they arrive at the same moment."""

    api_user = models.ForeignKey(ApiUser, on_delete=models.CASCADE, related_name="records")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    prompt = models.OneToOneField(Prompt, on_delete=models.CASCADE, related_name="intake")
    dedup_key = models.CharField(max_length=64)
    masked = models.JSONField(default=list, blank=True, help_text="Kinds of personal data masked in it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "dedup_key"], name="one_prompt_per_common_prefix")]

    def __str__(self):
        return f"Prompt {self.prompt_id} from {self.api_user}"


class Outcome(models.TextChoices):
    """What became of a call's prompt. The response path decides whether it is queued at all (the
    `X-Rankwise-Intake` header); a queued one is a Filing row, which the worker moves to its outcome."""
    QUEUED = "queued", "Pending: masked, waiting for the worker"
    STORED = "stored", "Filed into the project's pool"
    DUPLICATE = "duplicate", "Not stored: a prompt with the same long prefix is in the pool"
    CAP_REACHED = "cap_reached", "Not stored: the user's prompt cap is reached"
    INVALID = "invalid", "Not stored: not a prompt the pool takes"
    NO_CONSENT = "no_consent", "Not stored: the user did not consent"
    FAILED = "failed", "Not stored: the filing task failed (see its error)"
    # Only on the response path: no filing row.
    PERSONAL_DATA = "refused_personal_data", "Not stored: it held personal data"
    NOT_QUEUED = "not_queued", "Not stored: the filing could not be written (the database was unreachable)"


# A tuple, not a set: its order is the status field's choices, which a set would shuffle per process.
FILING_OUTCOMES = (Outcome.STORED, Outcome.DUPLICATE, Outcome.CAP_REACHED, Outcome.INVALID, Outcome.NO_CONSENT,
                   Outcome.FAILED)
FILING_STATES = StateMachine("filing", "status", {Outcome.QUEUED: FILING_OUTCOMES,
                                                  **{outcome: set() for outcome in FILING_OUTCOMES}})


class Filing(models.Model):
    """One consented call's prompt, from the response path to its outcome: a transactional outbox. The call
    writes the row (with the masked conversation) and queues its id after commit; the worker files it and
    records the outcome here; beat's sweep queues again what is still pending a minute later (its message
    was lost: the broker was down at commit). Rows are kept as the record of outcomes the admin counts; the
    conversation is not: it is emptied when the filing gets its outcome (a stored prompt has its own copy,
    and what was not stored is not kept)."""

    api_user = models.ForeignKey(ApiUser, on_delete=models.CASCADE, related_name="filings")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+",
                                help_text="The project whose generator answered the call; it files into its pool.")
    status = models.CharField(max_length=16, choices=[(s.value, s.label) for s in FILING_STATES.table],
                              default=Outcome.QUEUED)
    messages = models.JSONField(default=list, blank=True,
                                help_text="The masked conversation, while the filing is pending.")
    masked = models.JSONField(default=list, blank=True, help_text="Kinds of personal data masked in it.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The sweep's question, "which filings are still pending since before ...", reads this small index.
        indexes = [models.Index(fields=["created_at"], condition=Q(status=Outcome.QUEUED),
                                name="intake_filing_pending")]

    def __str__(self):
        return f"Filing {self.pk} from {self.api_user} ({self.status})"
