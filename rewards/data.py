"""Training data from the database, and comparison counts. Read-only.

One `RankingGroup` per `Ranking`: one labeler's tiers for one prompt's candidates. Comparisons are
derived from tiers (every pair in different tiers), never stored.
"""
from itertools import groupby

from django.db import connection
from django.db.models import Max, Prefetch

from labeling.models import Candidate, CandidateRating, Prompt, Ranking
from labeling.validation import preference_margin
from rankdata.agreement import prompt_agreement
from rewards.training import RankingGroup


def labelers_agreed(rankings):
    """Whether the labelers who ranked one prompt ordered every pair of candidates the same way (full
    pairwise agreement, rankdata.agreement). None when only one labeler ranked the prompt."""
    agreement = prompt_agreement([{r.candidate_id: r.tier for r in ranking.ratings.all()} for ranking in rankings])
    return None if agreement is None else agreement == 1.0


# A training run's options on which rankings it learns from: Ranking.objects.usable_for_training's arguments.
QUALITY_OPTIONS = ("accepted_only", "include_quarantined", "include_gold", "min_agreement")


def ranking_groups(project, *, prompt_ids=None, chunk_size=500, quality=None):
    """Yield a RankingGroup per ranking of `project` usable for training (optionally only of `prompt_ids`),
    in prompt order. `quality`: options of labeling's one definition of usable (QUALITY_OPTIONS); by
    default rejected and quarantined rankings and rankings of gold prompts are left out.

    Streams in chunks; each chunk costs two queries (rankings with their prompts, ratings with their
    candidates) however many rankings it holds."""
    rankings = (Ranking.objects.usable_for_training(**(quality or {})).filter(prompt__project=project)
                .select_related("prompt")
                .only("id", "prompt_id", "prompt__messages", "strength")
                .prefetch_related(Prefetch(
                    "ratings",
                    queryset=CandidateRating.objects.select_related("candidate")
                    .only("id", "ranking_id", "tier", "candidate__id", "candidate__text")
                    .order_by("candidate__index"),
                ))
                .order_by("prompt_id", "id"))
    if prompt_ids is not None:
        rankings = rankings.filter(prompt_id__in=prompt_ids)
    # Ordered by prompt, so groupby sees each prompt's rankings together and agreement needs no extra query.
    for _, of_prompt in groupby(rankings.iterator(chunk_size=chunk_size), key=lambda r: r.prompt_id):
        of_prompt = list(of_prompt)
        agreed = labelers_agreed(of_prompt)
        for ranking in of_prompt:
            ratings = list(ranking.ratings.all())
            yield RankingGroup(
                prompt=ranking.prompt.messages,
                responses=[rating.candidate.text for rating in ratings],
                tiers=[rating.tier for rating in ratings],
                prompt_id=str(ranking.prompt_id),
                labelers_agreed=agreed,
                top_margin=preference_margin(ranking.strength),
            )


def last_ranking_id(project):
    return Ranking.objects.filter(prompt__project=project).aggregate(n=Max("id"))["n"]


def comparison_counts(project, *, after_ranking_id=None):
    """{"comparisons", "scored", "rm_agrees"} over the project's rankings (those after `after_ranking_id`).

    `scored` counts comparisons whose two candidates both have a reward; `rm_agrees` those where the
    reward model scores the labelers' winner strictly higher. One aggregate query: the pair join runs
    in the database instead of loading every rating. Its comparisons (every pair of ratings of a ranking
    with `w.tier < l.tier`) are rankdata.comparisons.comparisons; tests/exports/test_rankdata_contract.py
    checks that they stay the same."""
    rating, ranking = CandidateRating._meta.db_table, Ranking._meta.db_table
    prompt, candidate = Prompt._meta.db_table, Candidate._meta.db_table
    sql = f"""
        SELECT COUNT(*),
               COUNT(cw.reward + cl.reward),
               COALESCE(SUM(CASE WHEN cw.reward > cl.reward THEN 1 ELSE 0 END), 0)
        FROM {rating} w
        JOIN {rating} l ON l.ranking_id = w.ranking_id AND w.tier < l.tier
        JOIN {ranking} r ON r.id = w.ranking_id
        JOIN {prompt} p ON p.id = r.prompt_id
        JOIN {candidate} cw ON cw.id = w.candidate_id
        JOIN {candidate} cl ON cl.id = l.candidate_id
        WHERE p.project_id = %s AND r.id > %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, after_ranking_id or 0])
        total, scored, agrees = cursor.fetchone()
    return {"comparisons": total, "scored": scored, "rm_agrees": agrees,
            "rm_agreement": agrees / scored if scored else None}
