"""Rankings: one labeler's ordering of one prompt's K candidates, with ratings and flags per candidate.

Comparisons are derived from the tiers, never stored twice."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from labeling.models.prompts import Candidate, Prompt
from labeling.models.queue import Task
from labeling.validation import LIKERT_MAX, LIKERT_MIN, MAX_K
from rankdata.comparisons import comparisons


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
