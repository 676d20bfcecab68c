"""API users (callers of the OpenAI-compatible endpoint, one project each) and the prompts their calls
filed into that project's pool."""
import hashlib
import secrets

from django.conf import settings
from django.db import models

from labeling.models import Project, Prompt

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
