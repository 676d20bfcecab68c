"""Read-only figures for the home page, the dashboard and the API. Nothing here writes."""
from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from labeling.models import Prompt, PromptState, Ranking, Task, TaskKind, TaskState
from labeling.validation import DISPLAY_LETTERS


def available_slots(project, user, kind):
    now = timezone.now()
    done_by_user = Task.objects.filter(prompt_id=OuterRef("prompt_id"), kind=kind, labeler=user)
    slots = (Task.objects.filter(project=project, kind=kind)
             .filter(Q(state=TaskState.OPEN) | Q(state=TaskState.LEASED, expires_at__lte=now))
             .exclude(Exists(done_by_user.exclude(pk=OuterRef("pk")))))
    # As Task.objects.claim_slot: nobody writes the demonstration for their own prompt.
    return slots.exclude(prompt__author=user) if kind == TaskKind.WRITE_DEMONSTRATION else slots


def queue_counts(project, user):
    """Tasks available to `user` per enabled kind; writing a prompt is always available when enabled."""
    counts = {}
    for kind in project.enabled_kinds:
        counts[kind] = None if kind == TaskKind.WRITE_PROMPT else available_slots(project, user, kind).count()
    return counts


def labeler_stats(user):
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    finished = Task.objects.filter(labeler=user, state=TaskState.SUBMITTED)
    by_kind = dict(finished.values_list("kind").annotate(n=Count("id")))
    today = dict(finished.filter(finished_at__gte=start_of_day).values_list("kind").annotate(n=Count("id")))
    return {
        "total": {kind: by_kind.get(kind, 0) for kind in TaskKind.values},
        "today": {kind: today.get(kind, 0) for kind in TaskKind.values},
        "skipped": Task.objects.filter(labeler=user, state=TaskState.SKIPPED).count(),
    }


def project_progress(project):
    states = dict(Prompt.objects.filter(project=project).values_list("state").annotate(n=Count("id")))
    week_ago = timezone.now() - timedelta(days=7)
    rankings = Ranking.objects.filter(prompt__project=project)
    return {
        "prompts": {state: states.get(state, 0) for state in PromptState.values},
        "rankings": rankings.count(),
        "rankings_last_7_days": rankings.filter(created_at__gte=week_ago).count(),
        "labelers": rankings.values("labeler").distinct().count(),
    }


def ranking_summary(ranking):
    """A ranking as its labeler saw it: display letters best first, ties joined by '=' ("B > A = C > D")."""
    letters = dict(zip(ranking.display_order, DISPLAY_LETTERS))
    tiers = {}
    for rating in ranking.ratings.all():
        tiers.setdefault(rating.tier, []).append(letters.get(rating.candidate_id, "?"))
    return " > ".join(" = ".join(sorted(tiers[tier])) for tier in sorted(tiers))


def labeler_history(user):
    """The labeler's finished tasks, newest first, with what each needs for its history row."""
    return (Task.objects.filter(labeler=user, state__in=[TaskState.SUBMITTED, TaskState.SKIPPED])
            .select_related("project", "prompt__gold", "written_prompt", "demonstration", "ranking")
            .prefetch_related("ranking__ratings")
            .order_by("-finished_at", "-id"))
