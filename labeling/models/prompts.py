"""Prompts (conversations) and what belongs to one: demonstrations and the K candidates to rank.

A prompt's state changes only through labeling.workflow, by the moves PROMPT_STATES allows."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.models.projects import Project
from labeling.rendering import render_markdown
from rankdata.text import conversation_text
from labeling.transitions import StateMachine
from labeling.validation import MAX_K


class PromptKind(models.TextChoices):
    PLAIN = "plain", "Plain"
    FEW_SHOT = "few_shot", "Few-shot"
    USE_CASE = "use_case", "Use case"


# How a few-shot prompt's instruction and query/response examples become its one user message. The write
# page's preview fills in the same templates (sent in its config), so it shows what the model will see.
FEW_SHOT_TEMPLATES = {"shot": "Query: {query}\nResponse: {response}", "between": "\n\n"}


def few_shot_text(instruction, examples):
    shots = [FEW_SHOT_TEMPLATES["shot"].format(query=e["query"], response=e["response"]) for e in examples]
    return FEW_SHOT_TEMPLATES["between"].join([instruction, FEW_SHOT_TEMPLATES["between"].join(shots)])


class PromptSource(models.TextChoices):
    LABELER = "labeler", "Written by a labeler"
    IMPORTED = "imported", "Imported"
    API = "api", "Collected from API users"


class PromptState(models.TextChoices):
    NEW = "new", "New"
    AWAITING_DEMONSTRATION = "awaiting_demonstration", "Waiting for a demonstration"
    AWAITING_CANDIDATES = "awaiting_candidates", "Waiting for candidates"
    READY = "ready", "Ready to rank"
    DONE = "done", "Done"
    REPORTED = "reported", "Reported"


OPEN_PROMPT_STATES = (PromptState.NEW, PromptState.AWAITING_DEMONSTRATION, PromptState.AWAITING_CANDIDATES,
                      PromptState.READY)
PROMPT_STATES = StateMachine("prompt", "state", {
    PromptState.NEW: {PromptState.AWAITING_DEMONSTRATION, PromptState.AWAITING_CANDIDATES, PromptState.READY,
                      PromptState.REPORTED},
    PromptState.AWAITING_DEMONSTRATION: {PromptState.AWAITING_CANDIDATES, PromptState.REPORTED},
    PromptState.AWAITING_CANDIDATES: {PromptState.READY, PromptState.REPORTED},
    PromptState.READY: {PromptState.DONE, PromptState.REPORTED},
    # DONE -> READY: a reviewer rejected one of its rankings, and its slot goes back to the pool.
    PromptState.DONE: {PromptState.READY},
    PromptState.REPORTED: set(),
})


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    # The conversation up to the response to write or rank: [{"role": ..., "content": ...}, ...].
    # A plain prompt is one user message; a multi-turn prompt carries the whole dialogue.
    messages = models.JSONField()
    kind = models.CharField(max_length=16, choices=PromptKind.choices, default=PromptKind.PLAIN)
    source = models.CharField(max_length=16, choices=PromptSource.choices, default=PromptSource.IMPORTED)
    use_case = models.CharField(max_length=500, blank=True)
    # Structured form of a few-shot prompt (instruction and query/response examples), kept as written.
    few_shot = models.JSONField(null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="prompts_written")
    state = models.CharField(max_length=32, choices=PromptState.choices, default=PromptState.NEW, db_index=True)
    generation_error = models.TextField(blank=True)
    # The generation task (Celery task id) sampling this prompt's candidates, and until when: two GPU
    # workers never sample the same prompt, and a dead worker's claim lapses (worker/generation_jobs.py).
    generation_claim = models.CharField(max_length=64, blank=True)
    generation_claimed_until = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, help_text="Identifier from an import, if any.")
    # Prompts of one group land in one export split whatever their text: an API user's prompts all go to
    # train, validation or test together ("api-user:<id>"), as InstructGPT split its API prompts by user.
    split_group = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["project", "state"])]

    def __str__(self):
        return f"Prompt {self.pk} ({self.get_state_display()})"

    @property
    def text(self):
        return conversation_text(self.messages)

    def record_generation_failure(self, reason):
        self.generation_error = reason[:5000]
        self.save(update_fields=["generation_error", "updated_at"])


class Demonstration(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="demonstrations")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="demonstrations")
    task = models.OneToOneField("labeling.Task", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="demonstration")
    text = models.TextField()
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "author"], name="one_demonstration_per_author")]

    def __str__(self):
        return f"Demonstration {self.pk} of prompt {self.prompt_id} by {self.author}"


class CandidateQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for candidate in objs:
            candidate.render()
        return super().bulk_create(objs, *args, **kwargs)


class Candidate(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="candidates")
    index = models.PositiveSmallIntegerField(help_text="Position in the generated set (not the display order).")
    text = models.TextField()
    # The text as the labeler's page shows it, rendered once when the candidate is stored: every task a
    # labeler gets carries K of them, and rendering a long response with code costs milliseconds.
    html = models.TextField(blank=True, editable=False)
    source = models.CharField(max_length=16, default="model", help_text="model or imported")
    # The name of the project generator that wrote it (Project.generation "generators"); never shown to
    # labelers, who must not learn which model wrote what.
    generator = models.CharField(max_length=100, blank=True, db_index=True)
    model_name = models.CharField(max_length=300, blank=True)
    model_revision = models.CharField(max_length=200, blank=True)
    sampling = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    reward = models.FloatField(null=True, blank=True, help_text="Score of the current reward model (admins only).")
    previous_reward = models.FloatField(
        null=True, blank=True,
        help_text="Score of the version promoted before the current one, kept while the project ranks by the "
        "two versions' disagreement (admins only).")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CandidateQuerySet.as_manager()

    class Meta:
        ordering = ["prompt", "index"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "index"], name="one_candidate_set_per_prompt"),
            models.CheckConstraint(condition=Q(index__lt=MAX_K), name="candidate_index_below_max_k"),
        ]

    def __str__(self):
        return f"Candidate {self.index} of prompt {self.prompt_id}"

    def render(self):
        self.html = render_markdown(self.text)

    def save(self, *args, **kwargs):
        # An admin who corrects a candidate's text corrects what labelers see too.
        self.render()
        if kwargs.get("update_fields") is not None and "text" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "html"}
        super().save(*args, **kwargs)
