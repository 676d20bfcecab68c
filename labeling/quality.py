"""The quality figures admins read (the quality page, the data explorer, the admin API), from the rows
labeling.workflow keeps up to date on every submit: reading them never recomputes agreement over the
rankings. The only heavy figure, Krippendorff's alpha, is computed by `refresh_alpha` in the background.

Labelers never get these: every caller is an admin view."""
from collections import defaultdict

from django.db import connection
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from labeling.models import (
    CandidateRating, LabelerQuality, Project, ProjectAgreement, PromptAgreement, Ranking, ReviewCause, ReviewStatus,
    Task, TaskKind, TaskState,
)
from rankdata.agreement import krippendorff_alpha


# Times are medians over each labeler's latest rankings: a bounded read through the labeler's task index
# (however many rankings the project holds), and the pace a labeler keeps now rather than on day one.
RECENT_RANKINGS = 200


def median_ms_per_ranking(project, labeler=None):
    """{labeler id: median time spent (ms) over their latest RECENT_RANKINGS rankings in the project}."""
    tasks, standings = Task._meta.db_table, LabelerQuality._meta.db_table
    sql = f"""
        SELECT standing.labeler_id, (
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY recent.time_spent_ms) FROM (
                SELECT task.time_spent_ms FROM {tasks} task
                WHERE task.labeler_id = standing.labeler_id AND task.state = %s AND task.kind = %s
                  AND task.project_id = standing.project_id
                ORDER BY task.finished_at DESC LIMIT %s) recent)
        FROM {standings} standing WHERE standing.project_id = %s"""
    params = [TaskState.SUBMITTED, TaskKind.RANK, RECENT_RANKINGS, project.pk]
    if labeler is not None:
        sql += " AND standing.labeler_id = %s"
        params.append(labeler.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def _figures(standing, median_ms, k):
    return {
        "labeler": standing.labeler_id,
        "username": standing.labeler.get_username(),
        "rankings": standing.rankings,
        "rankings_per_hour": standing.rankings_per_hour,
        "median_ms_per_ranking": median_ms,
        "median_ms_per_candidate": median_ms / k if median_ms is not None else None,
        "skip_rate": standing.skip_rate,
        "peer_agreement": standing.peer_agreement,
        "peer_tau": standing.peer_tau,
        "peer_comparisons": standing.peer_comparisons,
        "gold_rankings": standing.gold_rankings,
        "gold_accuracy": standing.gold_accuracy,
        # The recent window the drift rules read (LabelerQuality.rule_breaches): since the qualification.
        "recent_agreement": standing.recent_agreement,
        "recent_observations": standing.recent_observations,
        "recent_gold_accuracy": standing.recent_gold_accuracy,
        "position_bias": standing.position_bias,
        "length_bias": standing.length_bias,
        "qualification": standing.qualification,
        "flagged": standing.is_flagged,
        "flagged_at": standing.flagged_at,
        "flag_reasons": standing.flag_reasons,
    }


def labeler_table(project):
    """One dict of figures per labeler who ranked (or skipped) in the project, by username: the quality
    page's per-labeler table, in two queries whatever the number of rankings."""
    medians = median_ms_per_ranking(project)
    standings = LabelerQuality.objects.filter(project=project).select_related("labeler").order_by("labeler__username")
    return [_figures(standing, medians.get(standing.labeler_id), project.k) for standing in standings]


def labeler_figures(project, labeler):
    """One labeler's figures in a project (None before their first ranking or skip there)."""
    standing = LabelerQuality.objects.filter(project=project, labeler=labeler).select_related("labeler").first()
    if standing is None:
        return None
    return _figures(standing, median_ms_per_ranking(project, labeler).get(labeler.pk), project.k)


def project_figures(project):
    """The project's agreement: InstructGPT's pairwise agreement over every two labelers of a prompt, the
    mean Kendall tau-b, Krippendorff's alpha (as of its last refresh), and how many prompts are contentious."""
    sums = PromptAgreement.objects.filter(project=project).aggregate(
        agreeing=Sum("agreeing_pairs"), all_pairs=Sum("pairs"), taus=Sum("tau_sum"), tau_n=Sum("tau_count"),
        compared=Count("pk", filter=Q(rankings__gte=2)), contentious=Count("pk", filter=Q(contentious=True)),
        below=Count("pk", filter=Q(pairs__gt=0, agreeing_pairs__lt=F("pairs") * project.agreement_threshold)))
    alpha = ProjectAgreement.objects.filter(project=project).first()
    labelers = LabelerQuality.objects.filter(project=project).aggregate(
        labelers=Count("pk"), flagged=Count("pk", filter=Q(flagged_at__isnull=False)))
    return {
        "pairwise_agreement": sums["agreeing"] / sums["all_pairs"] if sums["all_pairs"] else None,
        "kendall_tau": sums["taus"] / sums["tau_n"] if sums["tau_n"] else None,
        "krippendorff_alpha": alpha.alpha if alpha else None,
        "alpha_computed_at": alpha.computed_at if alpha else None,
        "prompts_compared": sums["compared"],
        "prompts_below_threshold": sums["below"],
        "contentious_prompts": sums["contentious"],
        **labelers,
    }


def contentious_prompts(project):
    """Prompts whose labelers stayed below the agreement threshold with every extra slot used, lowest
    agreement first."""
    # prefetch, not a join: the prompts of the rows shown are read by id, instead of a hash join over every
    # prompt of the project (89 ms -> a few at 100k rankings).
    return (PromptAgreement.objects.filter(project=project, contentious=True).prefetch_related("prompt")
            .order_by(F("agreeing_pairs") * 1.0 / F("pairs"), "prompt_id"))


def refresh_alpha(project):
    """Compute Krippendorff's alpha over every (non-gold, not rejected) ranking of the project and store it."""
    prompts = defaultdict(lambda: defaultdict(dict))
    ratings = (CandidateRating.objects.filter(ranking__prompt__project=project, ranking__prompt__gold__isnull=True)
               .exclude(ranking__review_status=ReviewStatus.REJECTED)
               .values_list("ranking__prompt_id", "ranking__labeler_id", "candidate_id", "tier").iterator(10_000))
    rankings = set()
    for prompt_id, labeler_id, candidate_id, tier in ratings:
        prompts[prompt_id][labeler_id][candidate_id] = tier
        rankings.add((prompt_id, labeler_id))
    shared = [by_labeler for by_labeler in prompts.values() if len(by_labeler) >= 2]
    alpha = krippendorff_alpha(shared) if shared else None
    ProjectAgreement.objects.update_or_create(project=project, defaults={
        "alpha": alpha, "rankings": len(rankings), "computed_at": timezone.now()})
    return alpha


def refresh_stale_alphas():
    """Refresh alpha of every project whose ranking count changed, or one of whose rankings was amended,
    since its last refresh (the beat job)."""
    counts = (Ranking.objects.filter(prompt__gold__isnull=True).exclude(review_status=ReviewStatus.REJECTED)
              .values("prompt__project")
              .annotate(n=Count("pk"), amended=Max("amended_at")))
    stored = {project: (rankings, computed_at) for project, rankings, computed_at
              in ProjectAgreement.objects.values_list("project_id", "rankings", "computed_at")}
    stale = [row["prompt__project"] for row in counts if _alpha_is_stale(stored.get(row["prompt__project"]), row)]
    for project in Project.objects.filter(pk__in=stale):
        refresh_alpha(project)
    return len(stale)


def _alpha_is_stale(stored, now):
    if stored is None or stored[0] != now["n"]:
        return True
    computed_at = stored[1]
    return now["amended"] is not None and (computed_at is None or now["amended"] > computed_at)


def review_progress(project):
    """Rankings of the project in the review queue and reviewed, by outcome and by why they were queued.
    Reads only rankings that ever entered review (the review_status index skips the unreviewed bulk)."""
    rows = (Ranking.objects.filter(prompt__project=project, review_status__in=[
        ReviewStatus.PENDING, ReviewStatus.ACCEPTED, ReviewStatus.REJECTED])
        .values_list("review_status", "review_cause").annotate(n=Count("pk")))
    by_status = dict.fromkeys([ReviewStatus.PENDING, ReviewStatus.ACCEPTED, ReviewStatus.REJECTED], 0)
    by_cause = dict.fromkeys(ReviewCause.values, 0)
    for status, cause, n in rows:
        by_status[status] += n
        if cause:
            by_cause[cause] += n
    reviewed = by_status[ReviewStatus.ACCEPTED] + by_status[ReviewStatus.REJECTED]
    return {"pending": by_status[ReviewStatus.PENDING], "accepted": by_status[ReviewStatus.ACCEPTED],
            "rejected": by_status[ReviewStatus.REJECTED], "reviewed": reviewed,
            "rejected_share": by_status[ReviewStatus.REJECTED] / reviewed if reviewed else None,
            "by_cause": by_cause}


def agreement_over_time(project):
    """[{"day", "agreement", "prompts"}]: pairwise agreement of the prompts whose latest ranking arrived that
    day (each prompt's stored sums, grouped by the day it was last updated), oldest first."""
    days = (PromptAgreement.objects.filter(project=project, pairs__gt=0)
            .annotate(day=TruncDate("updated_at")).values("day")
            .annotate(agreeing=Sum("agreeing_pairs"), pairs=Sum("pairs"), prompts=Count("pk")).order_by("day"))
    return [{"day": row["day"], "agreement": row["agreeing"] / row["pairs"], "prompts": row["prompts"]}
            for row in days]
