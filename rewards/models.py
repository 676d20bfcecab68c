"""Training runs and reward-model versions.

A `TrainingRun` is the status row of one training job; it moves queued → running → succeeded/failed
only through `TrainingRun.move_to`. A successful run yields one `RewardModel` version, whose checkpoint
directory was complete (renamed into place) before the row was written. At most one version per
project is current; promotion and rollback are methods here, so the task, the API and the admin share them.
"""
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Max, Q
from django.utils import timezone

from labeling.jobs import enqueue_on_commit
from labeling.models import Project
from labeling.transitions import StateMachine
from rewards.promotion import CHANCE, decide_promotion


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = [RunStatus.QUEUED, RunStatus.RUNNING]
RUN_STATES = StateMachine("training run", "status", {
    RunStatus.QUEUED: {RunStatus.RUNNING, RunStatus.FAILED},
    RunStatus.RUNNING: {RunStatus.SUCCEEDED, RunStatus.FAILED},
    RunStatus.SUCCEEDED: set(),
    RunStatus.FAILED: set(),
})


class Trigger(models.TextChoices):
    MANUAL = "manual", "Requested by an admin"
    SCHEDULE = "schedule", "Schedule"
    THRESHOLD = "threshold", "Enough new comparisons"


class TrainingAlreadyActive(Exception):
    def __init__(self, run):
        super().__init__(f"training run {run.pk} of this project is already {run.status}")
        self.run = run


class TrainingRunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def request(self, project, *, trigger, hyperparameters=None, requested_by=None, enqueue=True):
        """Create a queued run and enqueue it after commit, or raise TrainingAlreadyActive.

        The partial unique index `one_active_run_per_project` decides between concurrent requests: the
        second INSERT waits for the first transaction and then fails, so exactly one run starts.
        `enqueue=False` is for the command line, which runs the training in its own process."""
        try:
            with transaction.atomic():
                run = self.create(project=project, trigger=trigger, hyperparameters=hyperparameters or {},
                                  requested_by=requested_by)
        except IntegrityError:
            active = self.active().filter(project=project).first()
            if active is None:  # the other run finished between our INSERT and this read; try once more
                return self.request(project, trigger=trigger, hyperparameters=hyperparameters,
                                    requested_by=requested_by, enqueue=enqueue)
            raise TrainingAlreadyActive(active) from None
        if enqueue:
            run.celery_task_id = enqueue_on_commit("rewards.train_reward_model", run.pk)
            self.filter(pk=run.pk).update(celery_task_id=run.celery_task_id)
        return run

    def fail_stale(self):
        """Fail runs whose worker died: running with no progress report for RANKWISE_TRAINING_STALE_MINUTES.

        Without this a killed worker would block the project's training forever (one active run only)."""
        cutoff = timezone.now() - timedelta(minutes=settings.RANKWISE_TRAINING_STALE_MINUTES)
        stale = list(self.filter(status=RunStatus.RUNNING, updated_at__lt=cutoff))
        for run in stale:
            run.fail("no progress report for a long time: the worker was probably killed")
        return stale


class TrainingRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    hyperparameters = models.JSONField(default=dict, blank=True,
                                       help_text="Overrides of the RewardConfig defaults for this run.")
    celery_task_id = models.CharField(max_length=255, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss_history = models.JSONField(default=list, blank=True, help_text="Training loss of every optimizer step.")
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # What the run trained on, recorded when it reads the data (the baseline for "anything new?").
    last_ranking_id = models.BigIntegerField(null=True, blank=True)
    comparisons = models.PositiveIntegerField(default=0)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project"], condition=Q(status__in=ACTIVE_STATUSES),
                                    name="one_active_run_per_project"),
        ]

    def __str__(self):
        return f"Training run {self.pk} of {self.project} ({self.status})"

    @property
    def percent(self):
        if self.status == RunStatus.SUCCEEDED:
            return 100.0
        return round(100.0 * self.step / self.total_steps, 1) if self.total_steps else 0.0

    @property
    def is_active(self):
        return self.status in ACTIVE_STATUSES

    def move_to(self, new_status, **fields):
        """The one place a run changes status: a conditional UPDATE on the status this object last saw.

        Returns False when another process moved the run first (a redelivered task, a stale-run sweep),
        so the caller backs off instead of overwriting that decision."""
        fields = {"updated_at": timezone.now(), **fields}
        if new_status == RunStatus.RUNNING:
            fields["started_at"] = fields["updated_at"]
        if new_status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            fields["finished_at"] = fields["updated_at"]
        return RUN_STATES.move(self, new_status, **fields)

    def start(self):
        return self.move_to(RunStatus.RUNNING)

    def fail(self, error):
        self.refresh_from_db(fields=["status"])
        if self.status not in ACTIVE_STATUSES:
            return False
        return self.move_to(RunStatus.FAILED, error=str(error)[:20_000])

    def report_progress(self, step, total_steps, loss_history, log_line=None):
        """Store progress while running; only touches a run that is still running."""
        fields = {"step": step, "total_steps": total_steps, "loss_history": loss_history,
                  "updated_at": timezone.now()}
        if log_line:
            self.log = f"{self.log}{log_line}\n"
            fields["log"] = self.log
        TrainingRun.objects.filter(pk=self.pk, status=RunStatus.RUNNING).update(**fields)
        self.step, self.total_steps, self.loss_history = step, total_steps, loss_history

    def append_log(self, line):
        self.report_progress(self.step, self.total_steps, self.loss_history, line)

    def record_data(self, *, last_ranking_id, comparisons, data_fingerprint):
        self.last_ranking_id, self.comparisons, self.data_fingerprint = last_ranking_id, comparisons, data_fingerprint
        self.save(update_fields=["last_ranking_id", "comparisons", "data_fingerprint", "updated_at"])


class RewardModelQuerySet(models.QuerySet):
    def current(self, project):
        return self.filter(project=project, is_current=True).first()


class RewardModel(models.Model):
    """One trained version. The checkpoint at `checkpoint_path` is complete: the row is written only
    after the library renamed the finished directory into place."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reward_models")
    run = models.OneToOneField(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="reward_model")
    version = models.PositiveIntegerField()
    checkpoint_path = models.CharField(max_length=1000)
    backbone = models.CharField(max_length=1000)
    hyperparameters = models.JSONField(default=dict, help_text="The full RewardConfig the model was trained with.")
    metrics = models.JSONField(default=dict, help_text="Validation accuracy (overall and by labeler agreement), "
                               "reward mean/std, loss curve, and the comparison with the version it challenged.")
    comparisons = models.PositiveIntegerField(default=0, help_text="Training comparisons.")
    prompts = models.PositiveIntegerField(default=0, help_text="Training prompts.")
    data_fingerprint = models.CharField(max_length=64)
    validation_prompt_ids = models.JSONField(
        default=list, help_text="Prompt ids held out for validation; later versions are measured on them too.")
    is_current = models.BooleanField(default=False)
    promotion = models.JSONField(
        default=dict, blank=True,
        help_text="The automatic promotion decision: promote or not, why, and the accuracy interval it rests on.")
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RewardModelQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="one_number_per_version"),
            models.UniqueConstraint(fields=["project"], condition=Q(is_current=True),
                                    name="one_current_reward_model_per_project"),
        ]

    def __str__(self):
        return f"{self.project} RM v{self.version}{' (current)' if self.is_current else ''}"

    @property
    def validation_accuracy(self):
        return self.metrics.get("validation", {}).get("pairwise_accuracy")

    @classmethod
    @transaction.atomic
    def record(cls, run, **fields):
        """Store the version a run produced, numbered under a lock on the project row."""
        Project.objects.select_for_update().get(pk=run.project_id)
        latest = cls.objects.filter(project_id=run.project_id).aggregate(n=Max("version"))["n"] or 0
        return cls.objects.create(project_id=run.project_id, run=run, version=latest + 1, **fields)

    @transaction.atomic
    def promote(self):
        """Make this version current (by hand or after it passed the comparison) and rescore candidates."""
        Project.objects.select_for_update().get(pk=self.project_id)
        self.refresh_from_db()
        if self.is_current:
            return False
        RewardModel.objects.filter(project_id=self.project_id, is_current=True).update(is_current=False)
        self.is_current, self.promoted_at = True, timezone.now()
        self.save(update_fields=["is_current", "promoted_at"])
        self._rescore_after_commit()
        return True

    @transaction.atomic
    def promote_if_not_worse(self, challenged):
        """Promote when this version's validation set is large enough and it is not worse than `challenged`
        (the version current when the run started; chance for a first version) beyond that set's noise
        (rewards.promotion), unless an admin changed the current version meanwhile. The decision and its
        reason are stored on `promotion` either way; a version not promoted stays a candidate."""
        project = Project.objects.select_for_update().get(pk=self.project_id)
        if RewardModel.objects.current(self.project) != challenged:
            decision = {"promote": False, "reason": "an admin changed the current version while this one trained"}
        else:
            decision = self._decide_promotion(challenged, project.min_validation_comparisons).as_dict()
        self.promotion = decision
        self.save(update_fields=["promotion"])
        return self.promote() if decision["promote"] else False

    def _decide_promotion(self, challenged, min_comparisons):
        if challenged is None:
            validation = self.metrics.get("validation") or {}
            return decide_promotion(validation.get("pairwise_accuracy"), validation.get("comparisons") or 0,
                                    baseline_accuracy=CHANCE, baseline="chance",
                                    min_comparisons=min_comparisons)
        duel = self.metrics.get("on_current_validation") or {}
        return decide_promotion(duel.get("new_accuracy"), duel.get("comparisons") or 0,
                                baseline_accuracy=duel.get("current_accuracy") or 0.0,
                                baseline=f"v{challenged.version}", min_comparisons=min_comparisons)

    @classmethod
    @transaction.atomic
    def roll_back(cls, project):
        """Make the version promoted before the current one current again; None if there is none.

        The restored version keeps its old promoted_at, so rolling back twice walks further back."""
        Project.objects.select_for_update().get(pk=project.pk)
        current = cls.objects.current(project)
        previous = current and current.previous_version()
        if previous is None:
            return None
        cls.objects.filter(pk=current.pk).update(is_current=False)
        cls.objects.filter(pk=previous.pk).update(is_current=True)
        previous.is_current = True
        previous._rescore_after_commit()
        return previous

    def previous_version(self):
        """The version promoted before this one (what a rollback restores, what the disagreement order
        compares with); None for a version never promoted or the first one."""
        if self.promoted_at is None:
            return None
        return (RewardModel.objects.filter(project_id=self.project_id, promoted_at__lt=self.promoted_at)
                .order_by("-promoted_at").first())

    def _rescore_after_commit(self):
        enqueue_on_commit("rewards.score_candidates", self.pk)
