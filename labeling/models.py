"""Projects, prompts, demonstrations, candidates, rankings and the task queue.

The models own their state changes (fat models, thin views): a view or a task calls one method.
Raw labeling data is stored losslessly; comparisons are derived from rankings, never stored twice.
"""
import functools
import random
from datetime import timedelta

import markdown
import nh3

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

MIN_K, MAX_K = 2, 9
LIKERT_MIN, LIKERT_MAX = 1, 7

# InstructGPT's per-response yes/no metadata (Ouyang et al. 2022, table 3), in display order.
FLAGS = {
    "fails_instruction": "Fails to follow the instruction",
    "inappropriate_for_assistant": "Inappropriate for a customer assistant",
    "hallucination": "Hallucination (makes up facts)",
    "fails_constraints": "Fails to follow explicit constraints",
    "sexual_content": "Contains sexual content",
    "violent_content": "Contains violent content",
    "encourages_violence": "Encourages or fails to discourage violence/abuse/terrorism/self-harm",
    "denigrates_protected_class": "Denigrates a protected class",
    "harmful_advice": "Gives harmful advice",
    "expresses_opinion": "Expresses an opinion",
    "expresses_moral_judgment": "Expresses a moral judgment",
}


@functools.lru_cache(maxsize=64)
def render_guidelines(text):
    """Admins write Markdown; nh3 strips anything script-like from the rendered HTML. Cached by the text
    itself because every next-task response carries the guidelines and rendering costs ~1.5 ms."""
    return nh3.clean(markdown.markdown(text, extensions=["extra", "sane_lists"]))


class InvalidTransition(Exception):
    pass


class LeaseError(Exception):
    """A submit or skip on a lease that is not (or no longer) the caller's."""


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown beside every task.")
    k = models.PositiveSmallIntegerField(
        "K", default=4, validators=[MinValueValidator(MIN_K), MaxValueValidator(MAX_K)],
        help_text="Responses ranked per prompt.",
    )
    overlap = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="How many different labelers rank each prompt.",
    )
    write_prompts_enabled = models.BooleanField("write prompts", default=True)
    demonstrations_enabled = models.BooleanField(
        "write demonstrations", default=True,
        help_text="New prompts get a demonstration before their candidates are sampled.",
    )
    ranking_enabled = models.BooleanField("rank responses", default=True)
    use_cases = models.JSONField(
        default=list, blank=True, help_text="Use cases labelers write use-case prompts from (a list of strings).",
    )
    report_threshold = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)],
        help_text="Reports (skips as unclear or harmful) that take a prompt out of the queue.",
    )
    generation = models.JSONField(
        default=dict, blank=True,
        help_text="Generator settings: backend, model (path or hub id), revision, temperature, top_p, "
        "max_new_tokens, seed, stop. Empty means the offline default model.",
    )
    retrain_after_comparisons = models.PositiveIntegerField(
        default=1000,
        help_text="Retrain the reward model as soon as this many new comparisons arrived since its last "
        "training run (checked every few minutes); 0 leaves retraining to the nightly schedule.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("manage_project", "Can configure projects, import prompts and export datasets")]
        constraints = [
            models.CheckConstraint(condition=Q(k__gte=MIN_K, k__lte=MAX_K), name="project_k_range"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
        ]

    def __str__(self):
        return self.name

    @property
    def guidelines_html(self):
        return render_guidelines(self.guidelines)

    @property
    def enabled_kinds(self):
        return [
            kind for kind, on in (
                (TaskKind.WRITE_PROMPT, self.write_prompts_enabled),
                (TaskKind.WRITE_DEMONSTRATION, self.demonstrations_enabled),
                (TaskKind.RANK, self.ranking_enabled),
            ) if on
        ]


class PromptKind(models.TextChoices):
    PLAIN = "plain", "Plain"
    FEW_SHOT = "few_shot", "Few-shot"
    USE_CASE = "use_case", "Use case"


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


_OPEN_STATES = [PromptState.NEW, PromptState.AWAITING_DEMONSTRATION, PromptState.AWAITING_CANDIDATES, PromptState.READY]
PROMPT_TRANSITIONS = {
    PromptState.NEW: {PromptState.AWAITING_DEMONSTRATION, PromptState.AWAITING_CANDIDATES, PromptState.READY,
                      PromptState.REPORTED},
    PromptState.AWAITING_DEMONSTRATION: {PromptState.AWAITING_CANDIDATES, PromptState.REPORTED},
    PromptState.AWAITING_CANDIDATES: {PromptState.READY, PromptState.REPORTED},
    PromptState.READY: {PromptState.DONE, PromptState.REPORTED},
    PromptState.DONE: set(),
    PromptState.REPORTED: set(),
}


def conversation_to_text(messages):
    """A plain-text rendering of a conversation, for models and readers without a chat format."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["project", "state"])]

    def __str__(self):
        return f"Prompt {self.pk} ({self.get_state_display()})"

    @property
    def text(self):
        return conversation_to_text(self.messages)

    def transition(self, new_state):
        """The one place a prompt changes state; callers hold the row (select_for_update) in a transaction."""
        if new_state not in PROMPT_TRANSITIONS[PromptState(self.state)]:
            raise InvalidTransition(f"prompt {self.pk}: {self.state} -> {new_state} is not allowed")
        self.state = new_state
        self.save(update_fields=["state", "updated_at"])
        if new_state == PromptState.AWAITING_DEMONSTRATION:
            Task.objects.open_slots(self, TaskKind.WRITE_DEMONSTRATION, 1)
        elif new_state == PromptState.READY:
            Task.objects.open_slots(self, TaskKind.RANK, self.project.overlap)
        elif new_state == PromptState.AWAITING_CANDIDATES:
            from worker.tasks import enqueue_generation  # worker imports labeling; import here to avoid a cycle

            enqueue_generation(self.pk)
        elif new_state == PromptState.REPORTED:
            # Nobody gets a reported prompt again; unsubmitted slots close.
            Task.objects.filter(prompt=self, state__in=[TaskState.OPEN, TaskState.LEASED]).update(
                state=TaskState.WITHDRAWN)

    def start(self):
        """Move a freshly created prompt into the pipeline, based on what it already has."""
        if self.candidates.exists():
            self.transition(PromptState.READY)
        elif self.project.demonstrations_enabled and not self.demonstrations.exists():
            self.transition(PromptState.AWAITING_DEMONSTRATION)
        else:
            self.transition(PromptState.AWAITING_CANDIDATES)

    def add_candidates(self, texts, *, model_name="", model_revision="", sampling=None, seed=None,
                       source="model"):
        """Store this prompt's full set of candidates and make it ready to rank.

        Exactly once: the (prompt, index) unique constraint rejects a second set, so a redelivered
        generation task can never add more candidates to a prompt."""
        if len(texts) != self.project.k:
            raise ValidationError({"candidates": f"expected {self.project.k} candidates, got {len(texts)}"})
        Candidate.objects.bulk_create([
            Candidate(prompt=self, index=i, text=text, source=source, model_name=model_name,
                      model_revision=model_revision, sampling=sampling or {}, seed=seed)
            for i, text in enumerate(texts)
        ])
        if self.state == PromptState.AWAITING_CANDIDATES:
            self.transition(PromptState.READY)

    def retry_generation(self):
        """After the admin fixed what made generation fail (a model path, say), queue the prompt again."""
        from worker.tasks import enqueue_generation

        if self.state != PromptState.AWAITING_CANDIDATES or self.candidates.exists():
            return False
        self.generation_error = ""
        self.save(update_fields=["generation_error", "updated_at"])
        enqueue_generation(self.pk)
        return True

    def record_generation_failure(self, reason):
        self.generation_error = reason[:5000]
        self.save(update_fields=["generation_error", "updated_at"])


class Demonstration(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="demonstrations")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="demonstrations")
    task = models.OneToOneField("Task", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="demonstration")
    text = models.TextField()
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "author"], name="one_demonstration_per_author")]


class Candidate(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="candidates")
    index = models.PositiveSmallIntegerField(help_text="Position in the generated set (not the display order).")
    text = models.TextField()
    source = models.CharField(max_length=16, default="model", help_text="model or imported")
    model_name = models.CharField(max_length=300, blank=True)
    model_revision = models.CharField(max_length=200, blank=True)
    sampling = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    reward = models.FloatField(null=True, blank=True, help_text="Score of the current reward model (admins only).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt", "index"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "index"], name="one_candidate_set_per_prompt"),
            models.CheckConstraint(condition=Q(index__lt=MAX_K), name="candidate_index_below_max_k"),
        ]


class TaskKind(models.TextChoices):
    WRITE_PROMPT = "write_prompt", "Write a prompt"
    WRITE_DEMONSTRATION = "write_demonstration", "Write a demonstration"
    RANK = "rank", "Rank responses"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    LEASED = "leased", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    WITHDRAWN = "withdrawn", "Withdrawn"


class SkipReason(models.TextChoices):
    UNCLEAR = "unclear", "Unclear"
    HARMFUL = "harmful", "Harmful"
    NOT_MY_LANGUAGE = "not_my_language", "Not in my language"
    OTHER = "other", "Other"


# Skips that say something is wrong with the prompt itself; enough of them take it out of the queue.
REPORT_REASONS = {SkipReason.UNCLEAR, SkipReason.HARMFUL}


class TaskQuerySet(models.QuerySet):
    def open_slots(self, prompt, kind, count):
        return self.bulk_create([Task(project_id=prompt.project_id, prompt=prompt, kind=kind) for _ in range(count)])

    def with_payload(self):
        """What the labeler's page shows: the prompt, its candidates and the project, in two queries."""
        return self.select_related("prompt", "project").prefetch_related("prompt__candidates")

    def active_lease(self, labeler, project, kind):
        return self.with_payload().filter(labeler=labeler, project=project, kind=kind, state=TaskState.LEASED,
                                          expires_at__gt=timezone.now()).first()

    def lease_next(self, labeler, project, kind):
        """Give `labeler` the next task of `kind`, or None when the pool is empty.

        A labeler holding an unexpired lease gets it back (a reload keeps the task and its draft).
        Otherwise one statement claims the oldest available slot: `FOR UPDATE SKIP LOCKED` lets 32
        concurrent callers each take a different row without waiting on each other, and the partial
        index on unfinished slots keeps the scan independent of how many tasks were ever done.
        """
        if kind not in project.enabled_kinds:
            return None
        held = self.with_payload().filter(labeler=labeler, project=project, kind=kind,
                                          state=TaskState.LEASED).first()
        if held and not held.is_expired:
            return held
        try:
            # One transaction, so the whole lease costs one commit (a WAL flush) on PostgreSQL.
            with transaction.atomic():
                if held:
                    held.release_expired_lease()
                if kind == TaskKind.WRITE_PROMPT:
                    return self._lease_prompt_writing(labeler, project)
                return self._claim_slot(labeler, project, kind)
        except IntegrityError:
            # The same labeler asked twice at once: one_lease_per_labeler_and_kind stopped the second
            # request, and the first one's lease is theirs.
            return self.active_lease(labeler, project, kind)

    def _lease_prompt_writing(self, labeler, project):
        now = timezone.now()
        use_case = random.choice(project.use_cases) if project.use_cases else ""
        return self.create(project=project, kind=TaskKind.WRITE_PROMPT, state=TaskState.LEASED,
                           labeler=labeler, leased_at=now, expires_at=now + lease_duration(), use_case=use_case)

    def _claim_slot(self, labeler, project, kind):
        now = timezone.now()
        table = Task._meta.db_table
        lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
        # The NOT EXISTS keeps a labeler from ever holding two slots of one prompt in one kind; the
        # one_labeler_per_prompt_and_kind constraint backs it up.
        sql = f"""
            UPDATE {table} SET state = %s, labeler_id = %s, leased_at = %s, expires_at = %s, lease_count = lease_count + 1
            WHERE id = (
                SELECT slot.id FROM {table} slot
                WHERE slot.project_id = %s AND slot.kind = %s
                  AND (slot.state = %s OR (slot.state = %s AND slot.expires_at <= %s))
                  AND NOT EXISTS (
                      SELECT 1 FROM {table} mine
                      WHERE mine.prompt_id = slot.prompt_id AND mine.kind = slot.kind
                        AND mine.labeler_id = %s AND mine.id <> slot.id)
                ORDER BY slot.id
                LIMIT 1
                {lock}
            )
            RETURNING id
        """
        params = [TaskState.LEASED, labeler.pk, now, now + lease_duration(), project.pk, kind,
                  TaskState.OPEN, TaskState.LEASED, now, labeler.pk]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        task = self.with_payload().get(pk=row[0])
        if kind == TaskKind.RANK:
            task.assign_display_order()
        return task


def lease_duration():
    return timedelta(minutes=settings.RANKWISE_LEASE_MINUTES)


class Task(models.Model):
    """One unit of labeler work: a slot in the pool, then a lease held by one labeler, then a result.

    Rank slots are created `overlap` times per ready prompt, a demonstration slot once per prompt that
    awaits one; write-prompt tasks are created on demand. A skipped slot keeps its labeler (so they
    never get that prompt again in that kind) and is replaced by a fresh open slot."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    prompt = models.ForeignKey(Prompt, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=24, choices=TaskKind.choices)
    state = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.OPEN)
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="tasks")
    leased_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    lease_count = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    display_order = models.JSONField(null=True, blank=True, help_text="Candidate ids in the order shown.")
    use_case = models.CharField(max_length=500, blank=True)
    skip_reason = models.CharField(max_length=24, choices=SkipReason.choices, blank=True)
    skip_note = models.TextField(blank=True)
    written_prompt = models.OneToOneField(Prompt, null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="writing_task")
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        indexes = [
            # The queue: only unfinished slots are indexed, so claiming stays fast however many are done.
            models.Index(fields=["project", "kind", "id"], name="task_pool",
                         condition=Q(state__in=["open", "leased"])),
            models.Index(fields=["labeler", "state", "finished_at"], name="task_labeler_history"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "kind", "labeler"], name="one_labeler_per_prompt_and_kind",
                                    condition=Q(prompt__isnull=False, labeler__isnull=False)),
            models.UniqueConstraint(fields=["labeler", "project", "kind"], name="one_lease_per_labeler_and_kind",
                                    condition=Q(state="leased")),
            models.CheckConstraint(condition=Q(kind="write_prompt") | Q(prompt__isnull=False),
                                   name="task_has_prompt_unless_writing_one"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    def assign_display_order(self):
        ids = [candidate.id for candidate in self.prompt.candidates.all()]
        random.shuffle(ids)
        self.display_order = ids
        self.save(update_fields=["display_order"])

    def release_expired_lease(self):
        """Put an expired lease back in the pool, so its labeler can take another task of this kind."""
        if self.kind == TaskKind.WRITE_PROMPT:
            self.state = TaskState.WITHDRAWN
        else:
            self.state, self.labeler, self.leased_at, self.expires_at = TaskState.OPEN, None, None, None
        self.save(update_fields=["state", "labeler", "leased_at", "expires_at"])

    @property
    def is_expired(self):
        return self.state == TaskState.LEASED and self.expires_at is not None and self.expires_at <= timezone.now()

    def lock_for(self, labeler, kind):
        """Re-read this task under a row lock and check `labeler` may finish it now.

        Returns the locked row. A task this labeler already finished is returned as is, so that a
        retried submit can answer with the stored result instead of storing it twice."""
        task = Task.objects.select_for_update(of=("self",)).select_related("prompt", "project").get(pk=self.pk)
        if task.labeler_id != labeler.pk:
            raise LeaseError("this task is not leased to you")
        if task.kind != kind:
            raise LeaseError(f"this task is a {task.get_kind_display().lower()} task")
        if task.state in (TaskState.SUBMITTED, TaskState.SKIPPED):
            return task
        if task.state != TaskState.LEASED:
            raise LeaseError(f"this task is {task.state}")
        if task.is_expired:
            raise LeaseError("your lease on this task has expired; get the next task")
        return task

    # --- Submits. Each is atomic and idempotent: a retried or double-clicked submit returns what the
    # first one stored. Validation errors name the field and store nothing.

    @transaction.atomic
    def submit_prompt(self, labeler, *, messages, kind=PromptKind.PLAIN, few_shot=None, time_spent_ms=0):
        task = self.lock_for(labeler, TaskKind.WRITE_PROMPT)
        if task.state == TaskState.SUBMITTED:
            return task.written_prompt
        validate_messages(messages)
        prompt = Prompt.objects.create(
            project=task.project, messages=messages, kind=kind, few_shot=few_shot, use_case=task.use_case,
            source=PromptSource.LABELER, author=labeler)
        prompt.start()
        task.written_prompt = prompt
        task.time_spent_ms = time_spent_ms
        task.save(update_fields=["written_prompt", "time_spent_ms"])
        task.finish()
        return prompt

    @transaction.atomic
    def submit_demonstration(self, labeler, *, text, time_spent_ms=0):
        task = self.lock_for(labeler, TaskKind.WRITE_DEMONSTRATION)
        if task.state == TaskState.SUBMITTED:
            return task.demonstration
        validate_text("text", text)
        demonstration = Demonstration.objects.create(prompt=task.prompt, author=labeler, task=task, text=text,
                                                     time_spent_ms=time_spent_ms)
        task.finish()
        prompt = Prompt.objects.select_for_update().get(pk=task.prompt_id)
        if prompt.state == PromptState.AWAITING_DEMONSTRATION:
            prompt.transition(PromptState.AWAITING_CANDIDATES)
        return demonstration

    @transaction.atomic
    def submit_ranking(self, labeler, *, ratings, time_spent_ms=0):
        """`ratings`: one dict per candidate with `candidate` (id), `tier` (1 = best, ties share a tier),
        `likert` (1-7) and `flags` (names from FLAGS)."""
        task = self.lock_for(labeler, TaskKind.RANK)
        if task.state == TaskState.SUBMITTED:
            return task.ranking
        candidate_ids = list(task.prompt.candidates.values_list("id", flat=True))
        tiers = validate_ratings(ratings, candidate_ids)
        ranking = Ranking.objects.create(prompt=task.prompt, labeler=labeler, task=task,
                                         display_order=task.display_order or candidate_ids,
                                         time_spent_ms=time_spent_ms)
        CandidateRating.objects.bulk_create([
            CandidateRating(ranking=ranking, candidate_id=r["candidate"], tier=tiers[r["candidate"]],
                            likert=r["likert"], flags=sorted(set(r.get("flags") or [])))
            for r in ratings
        ])
        task.finish()
        prompt = Prompt.objects.select_for_update().get(pk=task.prompt_id)
        still_open = Task.objects.filter(prompt=prompt, kind=TaskKind.RANK,
                                         state__in=[TaskState.OPEN, TaskState.LEASED]).exists()
        if not still_open and prompt.state == PromptState.READY:
            prompt.transition(PromptState.DONE)
        return ranking

    @transaction.atomic
    def submit_skip(self, labeler, *, reason, note=""):
        task = self.lock_for(labeler, self.kind)
        if task.state == TaskState.SKIPPED:
            return task
        if task.state == TaskState.SUBMITTED:
            raise LeaseError("this task was already submitted")
        if reason not in SkipReason.values:
            raise ValidationError({"reason": f"must be one of {', '.join(SkipReason.values)}"})
        validate_text("note", note, allow_empty=True)
        task.skip(reason, note)
        return task

    def finish(self):
        self.state = TaskState.SUBMITTED
        self.finished_at = timezone.now()
        self.save(update_fields=["state", "finished_at"])

    def skip(self, reason, note=""):
        """Give the slot back under a new row and take the prompt out of the queue if enough labelers report it."""
        self.state = TaskState.SKIPPED
        self.skip_reason = reason
        self.skip_note = note
        self.finished_at = timezone.now()
        self.save(update_fields=["state", "skip_reason", "skip_note", "finished_at"])
        if self.prompt_id is None:
            return
        prompt = Prompt.objects.select_for_update().get(pk=self.prompt_id)
        reports = Task.objects.filter(prompt=prompt, state=TaskState.SKIPPED, skip_reason__in=REPORT_REASONS).count()
        if reports >= self.project.report_threshold and prompt.state in _OPEN_STATES:
            prompt.transition(PromptState.REPORTED)
        elif prompt.state in _OPEN_STATES:
            Task.objects.open_slots(prompt, self.kind, 1)


class Ranking(models.Model):
    """One labeler's ranking of one prompt's K candidates: tiers with ties, ratings, flags, display order."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="rankings")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings")
    task = models.OneToOneField(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="ranking")
    display_order = models.JSONField(help_text="Candidate ids in the order the labeler saw them.")
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "labeler"], name="one_ranking_per_labeler")]

    def comparisons(self):
        """(winner candidate id, loser candidate id) for every pair in different tiers; ties give none."""
        rated = list(self.ratings.all())
        return [(a.candidate_id, b.candidate_id) for a in rated for b in rated if a.tier < b.tier]


class CandidateRating(models.Model):
    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="ratings")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="ratings")
    tier = models.PositiveSmallIntegerField(help_text="1 is best; equal tiers are ties.")
    likert = models.PositiveSmallIntegerField(validators=[MinValueValidator(LIKERT_MIN), MaxValueValidator(LIKERT_MAX)])
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ranking", "candidate"], name="one_rating_per_candidate"),
            models.CheckConstraint(condition=Q(likert__gte=LIKERT_MIN, likert__lte=LIKERT_MAX), name="likert_range"),
            models.CheckConstraint(condition=Q(tier__gte=1, tier__lte=MAX_K), name="tier_range"),
        ]


# --- Validation shared by the API, the import and the model methods -----------------------------

def validate_text(field, text, *, allow_empty=False):
    if not isinstance(text, str):
        raise ValidationError({field: "must be a string"})
    if not allow_empty and not text.strip():
        raise ValidationError({field: "must not be empty"})
    limit = settings.RANKWISE_MAX_TEXT_CHARS
    if len(text) > limit:
        raise ValidationError({field: f"is {len(text)} characters; the limit is {limit}"})


def validate_messages(messages, field="messages"):
    if not isinstance(messages, list) or not messages:
        raise ValidationError({field: "must be a non-empty list of {role, content} messages"})
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValidationError({field: f"message {i} must have exactly the keys role and content"})
        if message["role"] not in ("system", "user", "assistant"):
            raise ValidationError({field: f"message {i} has role {message['role']!r}; use system, user or assistant"})
        validate_text(f"{field}[{i}].content", message["content"])
    if messages[-1]["role"] != "user":
        raise ValidationError({field: "the last message must be the user's, the turn the response answers"})
    total = sum(len(m["content"]) for m in messages)
    if total > settings.RANKWISE_MAX_TEXT_CHARS:
        raise ValidationError({field: f"the conversation is {total} characters; the limit is "
                                      f"{settings.RANKWISE_MAX_TEXT_CHARS}"})


def validate_ratings(ratings, candidate_ids):
    """Check a ranking covers each of the prompt's candidates exactly once; return {candidate id: dense tier}."""
    if not isinstance(ratings, list):
        raise ValidationError({"ratings": "must be a list with one entry per candidate"})
    expected = set(candidate_ids)
    seen = set()
    for i, rating in enumerate(ratings):
        if not isinstance(rating, dict):
            raise ValidationError({"ratings": f"entry {i} must be an object"})
        candidate = rating.get("candidate")
        if candidate in seen:
            raise ValidationError({"ratings": f"candidate {candidate} is named twice"})
        if candidate not in expected:
            raise ValidationError({"ratings": f"candidate {candidate} is not one of this prompt's candidates"})
        seen.add(candidate)
        tier, likert = rating.get("tier"), rating.get("likert")
        if not isinstance(tier, int) or isinstance(tier, bool) or not 1 <= tier <= len(expected):
            raise ValidationError({"ratings": f"candidate {candidate}: tier must be a whole number from 1 to "
                                              f"{len(expected)}"})
        if not isinstance(likert, int) or isinstance(likert, bool) or not LIKERT_MIN <= likert <= LIKERT_MAX:
            raise ValidationError({"ratings": f"candidate {candidate}: likert must be a whole number from "
                                              f"{LIKERT_MIN} to {LIKERT_MAX}"})
        flags = rating.get("flags") or []
        unknown = [f for f in flags if f not in FLAGS] if isinstance(flags, list) else [flags]
        if unknown:
            raise ValidationError({"ratings": f"candidate {candidate}: unknown flags {unknown}"})
    missing = expected - seen
    if missing:
        raise ValidationError({"ratings": f"the ranking leaves out candidates {sorted(missing)}"})
    # Tiers are stored dense (1, 2, ...) so that "2 = second best group" holds whatever numbers the client used.
    distinct = sorted({r["tier"] for r in ratings})
    return {r["candidate"]: distinct.index(r["tier"]) + 1 for r in ratings}
