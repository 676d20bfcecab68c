"""Rankings: one labeler's ordering of one prompt's K candidates, with ratings and flags per candidate, and
the ranking's review.

Comparisons are derived from the tiers, never stored twice. A ranking's review state changes only through
labeling.workflow, by the moves REVIEW_STATES allows."""
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from labeling.models.prompts import Candidate, Prompt
from labeling.models.quality import PromptAgreement, of_gold_prompt, quarantined
from labeling.models.queue import Task
from labeling.transitions import StateMachine
from labeling.validation import LIKERT_MAX, LIKERT_MIN, MAX_K, PREFERENCE_STRENGTHS
from rankdata.comparisons import comparisons


class ReviewStatus(models.TextChoices):
    UNREVIEWED = "unreviewed", "Not reviewed"
    PENDING = "pending", "Waiting for review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class ReviewCause(models.TextChoices):
    """Why a ranking is in the review queue. Reviewers and admins see it; the labeler does not."""
    SAMPLE = "sample", "Sampled at the project's review rate"
    CONTENTIOUS = "contentious", "Its prompt is contentious"
    WATCHED = "watched", "Its labeler is under watch"


REVIEW_STATES = StateMachine("ranking review", "review_status", {
    ReviewStatus.UNREVIEWED: {ReviewStatus.PENDING},
    ReviewStatus.PENDING: {ReviewStatus.ACCEPTED, ReviewStatus.REJECTED},
    ReviewStatus.ACCEPTED: set(),
    ReviewStatus.REJECTED: set(),
})


def prompts_agreeing(minimum):
    """Ids of prompts whose stored pairwise agreement (PromptAgreement, rankdata.agreement's definition) is at
    least `minimum`. A prompt ranked once has no agreement and is not among them."""
    return PromptAgreement.objects.filter(pairs__gt=0, agreeing_pairs__gte=F("pairs") * minimum).values("prompt_id")


class RankingQuerySet(models.QuerySet):
    def usable_for_training(self, *, accepted_only=False, include_quarantined=False, include_gold=False,
                            min_agreement=None):
        """THE definition of the rankings the reward model learns from and the default exports carry:

        - never one a reviewer rejected; with `accepted_only`, only those a reviewer accepted;
        - not quarantined (its labeler is flagged in the project and no reviewer accepted it), unless
          `include_quarantined`;
        - not a ranking of a gold prompt (those are tests of the labelers), unless `include_gold`;
        - with `min_agreement`, only rankings of prompts whose labelers agree at least that much.

        Training data (rewards.data) and exports (exports.datasets) both filter through this."""
        rankings = self.exclude(review_status=ReviewStatus.REJECTED)
        if accepted_only:
            rankings = rankings.filter(review_status=ReviewStatus.ACCEPTED)
        if not include_quarantined:
            rankings = rankings.exclude(Q(quarantined()) & ~Q(review_status=ReviewStatus.ACCEPTED))
        if not include_gold:
            rankings = rankings.exclude(of_gold_prompt())
        if min_agreement is not None:
            rankings = rankings.filter(prompt_id__in=prompts_agreeing(min_agreement))
        return rankings

    def review_queue(self, project, reviewer):
        """The rankings of `project` waiting for review that `reviewer` may review (not their own), oldest
        in the queue first, with what a reviewer is shown."""
        return (self.filter(prompt__project=project, review_status=ReviewStatus.PENDING).exclude(labeler=reviewer)
                .select_related("prompt", "labeler").prefetch_related("ratings__candidate")
                .order_by("queued_for_review_at", "id"))


class Ranking(models.Model):
    """One labeler's ranking of one prompt's K candidates: tiers with ties, ratings, flags, display order."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="rankings")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings")
    task = models.OneToOneField(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="ranking")
    display_order = models.JSONField(help_text="Candidate ids in the order the labeler saw them.")
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    amended_at = models.DateTimeField(null=True, blank=True, help_text="When its labeler last amended it.")
    strength = models.CharField(
        max_length=24, blank=True, choices=[(name, label) for name, (label, _) in PREFERENCE_STRENGTHS.items()],
        help_text="How much better the best response is than the second (Llama 2's scale); blank if not stated.")
    review_status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.UNREVIEWED)
    review_cause = models.CharField(max_length=16, choices=ReviewCause.choices, blank=True)
    queued_for_review_at = models.DateTimeField(null=True, blank=True)
    # Shown to the labeler with the outcome, on their own history.
    review_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="reviews")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = RankingQuerySet.as_manager()

    class Meta:
        permissions = [("review_ranking", "Can review rankings (accept or reject them)")]
        constraints = [models.UniqueConstraint(fields=["prompt", "labeler"], name="one_ranking_per_labeler")]
        indexes = [
            # The review queue: only pending rankings are indexed.
            models.Index(fields=["queued_for_review_at", "id"], name="ranking_review_queue",
                         condition=Q(review_status="pending")),
            models.Index(fields=["review_status"], name="ranking_review_status"),
        ]

    def __str__(self):
        return f"Ranking {self.pk} of prompt {self.prompt_id} by {self.labeler}"

    def ratings_in_display_order(self):
        """This ranking's ratings in the order its labeler saw the candidates (what a reviewer is shown)."""
        position = {candidate: i for i, candidate in enumerate(self.display_order or [])}
        return sorted(self.ratings.all(), key=lambda r: (position.get(r.candidate_id, len(position)), r.candidate_id))

    def review_as_labeler_sees_it(self):
        """(status, reason) as the labeler may see them: a pending review reads as not reviewed, so a labeler
        cannot tell they are being watched, and a reason comes only with a decision."""
        if self.review_status in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
            return ReviewStatus(self.review_status), self.review_reason
        return ReviewStatus.UNREVIEWED, ""

    @property
    def amendable_until(self):
        return self.created_at + timedelta(minutes=settings.RANKWISE_AMEND_MINUTES)

    def amend_refusal(self, now=None):
        """Why its labeler may not amend this ranking now, or None when they may: the one rule, read by
        labeling.workflow.amend_ranking (under its locks) and by the pages that offer the amendment.

        Needs the ranking's task and its prompt's gold (when it has one) at hand. A ranking waiting for
        review may still be amended: a labeler cannot tell it is waiting (review_as_labeler_sees_it)."""
        if self.review_status in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
            return "a reviewer has already decided on this ranking"
        if not settings.RANKWISE_AMEND_MINUTES:
            return "amending rankings is turned off here"
        if (now or timezone.now()) >= self.amendable_until:
            return f"rankings can be amended for {settings.RANKWISE_AMEND_MINUTES} minutes after submitting"
        if hasattr(self.prompt, "gold") and not (self.task and self.task.gold_draw):
            # The prompt became gold from the rankings, this one among them: others are scored against it now.
            return "this ranking is now a reference for other labelers"
        return None

    def comparisons(self):
        """(winner candidate id, loser candidate id) for every pair in different tiers; ties give none."""
        rated = sorted(self.ratings.all(), key=lambda rating: rating.candidate_id)
        return [(rated[winner].candidate_id, rated[loser].candidate_id)
                for winner, loser in comparisons([rating.tier for rating in rated])]


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

    def __str__(self):
        return f"Tier {self.tier}, Likert {self.likert} for candidate {self.candidate_id} in ranking {self.ranking_id}"
