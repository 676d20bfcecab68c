"""The task queue: slots of labeler work, leased to one labeler at a time.

Rank slots are created `overlap` times per ready prompt, a demonstration slot once per prompt that awaits
one; write-prompt tasks are created on demand. A task's state changes only through labeling.workflow, by
the moves TASK_STATES allows."""
from datetime import timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

from labeling.draws import sql_shuffled
from labeling.models.projects import Project, TaskKind
from labeling.models.prompts import Candidate, Prompt
from labeling.models.quality import LabelerQuality
from labeling.models.rows import from_joined_row, select_list
from labeling.transitions import StateMachine


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    LEASED = "leased", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    WITHDRAWN = "withdrawn", "Withdrawn"


TASK_STATES = StateMachine("task", "state", {
    TaskState.OPEN: {TaskState.LEASED, TaskState.WITHDRAWN},
    # LEASED -> LEASED: another labeler claims a slot whose lease expired (the claim in `claim_slot`).
    # LEASED -> OPEN: an expired lease goes back to the pool when its labeler asks for a new task.
    TaskState.LEASED: {TaskState.LEASED, TaskState.OPEN, TaskState.SUBMITTED, TaskState.SKIPPED,
                       TaskState.WITHDRAWN},
    TaskState.SUBMITTED: set(),
    TaskState.SKIPPED: set(),
    TaskState.WITHDRAWN: set(),
})
UNFINISHED_TASK_STATES = (TaskState.OPEN, TaskState.LEASED)


class SkipReason(models.TextChoices):
    UNCLEAR = "unclear", "Unclear"
    HARMFUL = "harmful", "Harmful"
    NOT_MY_LANGUAGE = "not_my_language", "Not in my language"
    OTHER = "other", "Other"


# Skips that say something is wrong with the prompt itself; enough of them take it out of the queue.
REPORT_REASONS = {SkipReason.UNCLEAR, SkipReason.HARMFUL}


def lease_duration():
    return timedelta(minutes=settings.RANKWISE_LEASE_MINUTES)


class TaskQuerySet(models.QuerySet):
    def open_slots(self, prompt, kind, count, priority=0.0):
        return self.bulk_create([Task(project_id=prompt.project_id, prompt=prompt, kind=kind, priority=priority)
                                 for _ in range(count)])

    def with_payload(self):
        """What the labeler's page shows: the prompt, its candidates and the project, in two queries."""
        return self.select_related("prompt", "project").prefetch_related("prompt__candidates")

    def held_lease(self, labeler, project, kind):
        """The lease `labeler` holds on a task of `kind`, expired or not (at most one: a constraint)."""
        return self.with_payload().filter(labeler=labeler, project=project, kind=kind,
                                          state=TaskState.LEASED).first()

    def locked(self, task_id, labeler):
        """The caller's task `task_id` with its project, its row locked until the transaction ends, or None.

        FOR UPDATE OF the task alone: locking the joined project row too would make every submit of a project
        wait for the one before it to commit. In SQL, because every submit starts here and the ORM took
        longer to compile this SELECT than PostgreSQL took to run it."""
        sql = (f"SELECT {select_list(Task, 'task')}, {select_list(Project, 'project')} "
               f"FROM {Task._meta.db_table} task JOIN {Project._meta.db_table} project ON project.id = task.project_id "
               f"WHERE task.id = %s AND task.labeler_id = %s FOR UPDATE OF task")
        with connection.cursor() as cursor:
            cursor.execute(sql, [task_id, labeler.pk])
            row = cursor.fetchone()
        if row is None:
            return None
        task, task.project = from_joined_row((Task, Project), row)
        return task

    def claim_slot(self, labeler, project, kind, *, unless_flagged=False, unless_in_doubt=False):
        """Lease the first available slot to `labeler` in one statement, and read what the labeler's page
        shows in the same one: the task (its prompt and candidates loaded, its project `project`), or None.

        First means lowest `priority`, then oldest: priority is 0 unless the project orders ranking by
        the reward model's uncertainty (labeling.workflow.set_rank_priorities), so by default the queue
        is arrival order.

        `FOR UPDATE SKIP LOCKED` lets concurrent callers each take a different row without waiting on
        each other, and the partial index on unfinished slots keeps the scan independent of how many
        tasks were ever done (it is ordered by priority then id, so the ORDER BY reads it in order). The NOT
        EXISTS keeps a labeler from ever holding two slots of one prompt in one kind; the
        one_labeler_per_prompt_and_kind constraint backs it up. Moves OPEN -> LEASED, or LEASED -> LEASED
        for an expired lease, as TASK_STATES allows. With `unless_flagged`, a labeler the project's rules
        flagged gets nothing, and with `unless_in_doubt` one they are in doubt about (LabelerQuality.in_doubt)
        (labeling.workflow decides when these apply).

        A rank task gets its display order in the same statement: the prompt's candidate ids shuffled for
        this labeler, so that position bias averages out over labelers (and can be measured)."""
        now = timezone.now()
        table, candidates = Task._meta.db_table, Candidate._meta.db_table
        lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
        shuffle = "json_group_array" if connection.vendor == "sqlite" else "jsonb_agg"
        shuffle_key, salt = sql_shuffled("id")
        display_order = (f"(SELECT {shuffle}(c.id) FROM (SELECT id FROM {candidates} WHERE prompt_id = {table}.prompt_id"
                         f" ORDER BY {shuffle_key}) c)" if kind == TaskKind.RANK else "display_order")
        # Nobody writes the demonstration for a prompt they wrote themselves.
        not_own_prompt = (f"AND NOT EXISTS (SELECT 1 FROM {Prompt._meta.db_table} p WHERE p.id = slot.prompt_id"
                          f" AND p.author_id = %s)" if kind == TaskKind.WRITE_DEMONSTRATION else "")
        refused = [condition for condition, on in (("q.flagged_at IS NOT NULL", unless_flagged),
                                                   ("q.in_doubt", unless_in_doubt)) if on]
        not_flagged = (f"AND NOT EXISTS (SELECT 1 FROM {LabelerQuality._meta.db_table} q WHERE q.project_id = %s"
                       f" AND q.labeler_id = %s AND ({' OR '.join(refused)}))" if refused else "")
        loaded = (Task, Prompt, Candidate)
        columns = ", ".join(select_list(model, alias) for model, alias in zip(loaded, ("claimed", "prompt", "candidate")))
        sql = f"""
            WITH claimed AS (
                UPDATE {table} SET state = %s, labeler_id = %s, leased_at = %s, expires_at = %s,
                    lease_count = lease_count + 1, display_order = {display_order}
                WHERE id = (
                    SELECT slot.id FROM {table} slot
                    WHERE slot.project_id = %s AND slot.kind = %s
                      AND (slot.state = %s OR (slot.state = %s AND slot.expires_at <= %s))
                      AND NOT EXISTS (
                          SELECT 1 FROM {table} mine
                          WHERE mine.prompt_id = slot.prompt_id AND mine.kind = slot.kind
                            AND mine.labeler_id = %s AND mine.id <> slot.id)
                      {not_own_prompt}
                      {not_flagged}
                    ORDER BY slot.priority, slot.id
                    LIMIT 1
                    {lock}
                )
                RETURNING *
            )
            SELECT {columns}
            FROM claimed JOIN {Prompt._meta.db_table} prompt ON prompt.id = claimed.prompt_id
                LEFT JOIN {candidates} candidate ON candidate.prompt_id = prompt.id
            ORDER BY candidate.index
        """
        params = [TaskState.LEASED, labeler.pk, now, now + lease_duration(), *([salt] if kind == TaskKind.RANK else []),
                  project.pk, kind, TaskState.OPEN, TaskState.LEASED, now, labeler.pk]
        params += [labeler.pk] if not_own_prompt else []
        params += [project.pk, labeler.pk] if not_flagged else []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return None
        instances = [from_joined_row(loaded, row) for row in rows]
        task, prompt, _ = instances[0]
        task.project, task.prompt = project, prompt
        # As prefetch_related("prompt__candidates") leaves them: prompt.candidates.all() reads no more.
        loaded_candidates = prompt.candidates.all()
        loaded_candidates._result_cache = [candidate for _, _, candidate in instances if candidate is not None]
        loaded_candidates._prefetch_done = True
        prompt._prefetched_objects_cache = {"candidates": loaded_candidates}
        return task


class Task(models.Model):
    """One unit of labeler work: a slot in the pool, then a lease held by one labeler, then a result.

    A skipped slot keeps its labeler (so they never get that prompt again in that kind) and is replaced
    by a fresh open slot."""

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
    # Lower is served first. Rank slots of a project ordered by uncertainty get the RM's smallest score
    # margin among the prompt's candidates; everything else keeps 0 (arrival order).
    priority = models.FloatField(default=0.0)
    # A gold prompt drawn for this labeler outside the pool (labeling.workflow.lease_next): it has no slot
    # to give back when the lease expires or is skipped.
    gold_draw = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        indexes = [
            # The queue: only unfinished slots are indexed, so claiming stays fast however many are done.
            models.Index(fields=["project", "kind", "priority", "id"], name="task_pool",
                         condition=Q(state__in=["open", "leased"])),
            models.Index(fields=["labeler", "state", "finished_at"], name="task_labeler_history"),
            # A labeler's latest rankings in a project, with their time (labeling.quality's medians): read
            # from the index alone, so the quality page's time figures cost the same at any size.
            models.Index(fields=["labeler", "project", "-finished_at"], include=["time_spent_ms"],
                         name="task_recent_rankings", condition=Q(state="submitted", kind="rank")),
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

    @property
    def is_expired(self):
        return self.state == TaskState.LEASED and self.expires_at is not None and self.expires_at <= timezone.now()
