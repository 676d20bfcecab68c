"""A labeling project: its guidelines, K, overlap, the task kinds that are on, generator settings and
quality-control rules."""
import functools
import hashlib
import re

import markdown
import nh3
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from labeling import generator_settings
from labeling.validation import MAX_K, MIN_K


@functools.lru_cache(maxsize=64)
def guidelines_version(text):
    """A short fingerprint of the guidelines: pages and API clients fetch them again only when it changes."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@functools.lru_cache(maxsize=64)
def render_guidelines(text):
    """Admins write Markdown; nh3 strips anything script-like from the rendered HTML. Cached by the text
    itself because every next-task response carries the guidelines and rendering costs ~1.5 ms."""
    return nh3.clean(markdown.markdown(text, extensions=["extra", "sane_lists"]))


def guidelines_for(text, kind):
    """The part of a project's guidelines that a page of `kind` shows: everything except the sections of the
    other kinds. A kind's section starts at a level-2 heading naming it ("## Rank responses") and runs to the
    next level-2 heading, so ranking rules never crowd a writing page."""
    titles = {label.lower(): value for value, label in TaskKind.choices}
    parts = re.split(r"(?m)^(?=##[ \t])", text)
    def section_kind(part):
        return titles.get(part.splitlines()[0][2:].strip(" \t#").lower()) if part.startswith("##") else None
    return "".join(part for part in parts if section_kind(part) in (None, kind))


class TaskKind(models.TextChoices):
    WRITE_PROMPT = "write_prompt", "Write a prompt"
    WRITE_DEMONSTRATION = "write_demonstration", "Write a demonstration"
    RANK = "rank", "Rank responses"


class RankOrder(models.TextChoices):
    ARRIVAL = "arrival", "Arrival order"
    UNCERTAINTY = "uncertainty", "Reward model's uncertainty first"
    DISAGREEMENT = "disagreement", "Disagreement of the last two reward-model versions first"


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
    rank_order = models.CharField(
        max_length=16, choices=RankOrder.choices, default=RankOrder.ARRIVAL,
        help_text="Which prompts labelers rank first: in arrival order; those whose candidates the current "
        "reward model scores closest together (smallest margin) first; or those whose candidates the current "
        "and the previously promoted version order most differently first (without a previous version: "
        "the smallest margin).",
    )
    retrain_after_comparisons = models.PositiveIntegerField(
        default=1000,
        help_text="Retrain the reward model as soon as this many new comparisons arrived since its last "
        "training run (checked every few minutes); 0 leaves retraining to the nightly schedule.",
    )
    review_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of submitted rankings sampled into the review queue (0 to 1).",
    )
    min_validation_comparisons = models.PositiveIntegerField(
        default=100,
        help_text="A new reward-model version is promoted automatically only when its validation set holds at "
        "least this many comparisons.",
    )
    # Quality control (issue 11): agreement, gold, qualification and the rules that flag a labeler. Database
    # defaults too, so that rows written by plain SQL (the benchmarks' seeding) get them.
    agreement_threshold = models.FloatField(
        default=0.6, db_default=0.6, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="A prompt whose labelers agree on fewer candidate pairs than this is contentious: it gets "
        "one more labeler at a time, up to the cap, then goes to review.",
    )
    contentious_extra_slots = models.PositiveSmallIntegerField(
        default=0, db_default=0, validators=[MaxValueValidator(20)],
        help_text="The most extra labelers a contentious prompt gets before it goes to review (0: straight to "
        "review).",
    )
    gold_rate = models.FloatField(
        default=0.05, db_default=0.05, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of a labeler's ranking tasks that are gold prompts (0 to 1).",
    )
    doubt_gold_rate = models.FloatField(
        default=0.3, db_default=0.3, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of ranking tasks that are gold for a labeler in doubt: one whose recent agreement is "
        "below the peer agreement limit, though not yet beyond its noise. References settle the doubt sooner than "
        "peers do, either way (0 to 1; below the gold rate, it changes nothing).",
    )
    gold_after_unanimous = models.PositiveSmallIntegerField(
        default=0, db_default=0,
        help_text="A prompt this many labelers ranked identically becomes gold; 0 turns this off.",
    )
    qualification_tasks = models.PositiveSmallIntegerField(
        default=0, db_default=0, validators=[MaxValueValidator(100)],
        help_text="Gold tasks a new labeler must rank before real tasks; 0 means no qualification.",
    )
    qualification_min_agreement = models.FloatField(
        default=0.7, db_default=0.7, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of candidate pairs ordered like the references that passes the qualification.",
    )
    flag_min_gold_accuracy = models.FloatField(
        default=0.6, db_default=0.6, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Flag a labeler whose agreement with gold references is below this beyond its noise (the top "
        "of its 90% interval).",
    )
    flag_after_gold = models.PositiveSmallIntegerField(default=5, db_default=5, validators=[MinValueValidator(1)],
                                                       help_text="Gold rankings before the gold accuracy rule applies.")
    flag_min_peer_agreement = models.FloatField(
        default=0.6, db_default=0.6, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Flag a labeler whose agreement with the other labelers of the same prompts is below this "
        "beyond its noise (the top of its 90% interval).",
    )
    flag_after_comparisons = models.PositiveSmallIntegerField(
        default=10, db_default=10, validators=[MinValueValidator(1)],
        help_text="Comparisons with other labelers of the same prompts before the peer agreement rule applies.",
    )
    flag_max_position_bias = models.FloatField(
        default=0.8, db_default=0.8, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Flag a labeler whose ranks follow the display order this closely (|correlation|).",
    )
    flag_min_ms_per_candidate = models.PositiveIntegerField(
        default=0, db_default=0,
        help_text="Flag a labeler who spends less than this per response, on average (0: off; it needs clients "
        "that report the time spent).",
    )
    flag_after_rankings = models.PositiveSmallIntegerField(
        default=10, db_default=10, validators=[MinValueValidator(1)],
        help_text="Rankings before the position bias and speed rules apply.",
    )
    flag_window = models.PositiveSmallIntegerField(
        default=30, db_default=30, validators=[MinValueValidator(5), MaxValueValidator(1000)],
        help_text="The recent window the drift rules read: a labeler's latest this many to twice this many "
        "observations (comparisons with other labelers and gold rankings), since their qualification.",
    )
    flag_max_drop = models.FloatField(
        default=0.2, db_default=0.2, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Flag a labeler whose recent agreement is this far below their earlier agreement (their "
        "qualification included) beyond its noise (the top of its 90% interval). Agreement with other labelers "
        "runs lower than with gold references, so leave room for that.",
    )
    flagged_get_no_tasks = models.BooleanField(default=True, db_default=True,
                                               help_text="A flagged labeler gets no ranking tasks.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("manage_project", "Can configure projects, import prompts and export datasets")]
        constraints = [
            models.CheckConstraint(condition=Q(k__gte=MIN_K, k__lte=MAX_K), name="project_k_range"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(condition=Q(review_rate__gte=0, review_rate__lte=1), name="project_review_rate_range"),
            models.CheckConstraint(condition=Q(gold_rate__gte=0, gold_rate__lte=1), name="project_gold_rate_range"),
            models.CheckConstraint(condition=Q(doubt_gold_rate__gte=0, doubt_gold_rate__lte=1),
                                   name="project_doubt_gold_rate_range"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        generator_settings.check(self.generation, self.k)

    @property
    def guidelines_html(self):
        return render_guidelines(self.guidelines)

    @property
    def guidelines_version(self):
        return guidelines_version(self.guidelines)

    @property
    def enabled_kinds(self):
        return [
            kind for kind, on in (
                (TaskKind.WRITE_PROMPT, self.write_prompts_enabled),
                (TaskKind.WRITE_DEMONSTRATION, self.demonstrations_enabled),
                (TaskKind.RANK, self.ranking_enabled),
            ) if on
        ]
