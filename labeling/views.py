"""Labeler pages. The work page is one template; its script talks to the REST API, so that the
browser and the API share one code path for every submit."""

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from labeling.model_comparison import leaderboard_plot, project_comparison
from labeling import quality, workflow
from labeling.models import (
    LabelerQuality, Project, PromptKind, Qualification, Ranking, SkipReason, Task, TaskKind, TaskState,
)
from labeling.roles import REVIEW_PERMISSION
from labeling.validation import DISPLAY_LETTERS, FLAGS, LIKERT_MAX, LIKERT_MIN, PREFERENCE_STRENGTHS
from labeling.stats import labeler_history, labeler_stats, queue_counts, ranking_summary
from labeling.models.prompts import FEW_SHOT_TEMPLATES
from rankdata.agreement import pairwise_agreement
from rankdata.text import ROLES, role_label


def home(request):
    projects = [
        {"project": project, "queue": queue_counts(project, request.user)}
        for project in Project.objects.order_by("name")
    ]
    return render(request, "labeling/home.html", {
        "projects": projects,
        "stats": labeler_stats(request.user),
        "kinds": TaskKind,
    })


def _work_config(request, project, kind):
    """What the work page's script needs besides the task: the project's rules for the page, by the names the
    server validates with (labeling.validation), so the page never keeps its own copy of them."""
    return {
        "projectId": project.pk,
        # Drafts in the browser are kept per user (static/labeling/drafts.js).
        "userKey": request.user.pk,
        "kind": kind,
        "k": project.k,
        "flags": FLAGS,
        "likert": [LIKERT_MIN, LIKERT_MAX],
        "strengths": {name: label for name, (label, _) in PREFERENCE_STRENGTHS.items()},
        "skipReasons": dict(SkipReason.choices),
        "promptKinds": dict(PromptKind.choices),
        "fewShot": FEW_SHOT_TEMPLATES,
        "letters": DISPLAY_LETTERS,
        "roles": {role: role_label(role) for role in ROLES},
        "historyUrl": reverse("history"),
        "workUrl": reverse("work", args=[project.pk, kind]),
        "amendUrl": reverse("amend", args=[0]).replace("/0/", "/{task}/"),
    }


# The page's script reads the csrftoken cookie to send X-CSRFToken with every API call.
@ensure_csrf_cookie
def work(request, project_id, kind):
    project = get_object_or_404(Project, pk=project_id)
    if kind not in project.enabled_kinds:
        raise Http404("This task kind is not enabled for the project.")
    return render(request, "labeling/work.html", {
        "project": project,
        "kind": kind,
        "kind_label": TaskKind(kind).label,
        "config": _work_config(request, project, kind),
    })


@ensure_csrf_cookie
def amend(request, task_id):
    """The work page on one of the labeler's own submitted rankings, prefilled with what they stored; its
    script reads and amends it through the API (GET/POST /api/tasks/{id}/amend/), which says when it is
    too late."""
    task = get_object_or_404(Task.objects.select_related("project"), pk=task_id, labeler=request.user,
                             kind=TaskKind.RANK, state=TaskState.SUBMITTED)
    return render(request, "labeling/work.html", {
        "project": task.project,
        "kind": TaskKind.RANK,
        "kind_label": "Amend a ranking",
        "config": {**_work_config(request, task.project, TaskKind.RANK), "amendTaskId": task.pk},
    })


# raise_exception: a labeler gets 403; which model wrote what is never shown to labelers.
@permission_required("labeling.manage_project", raise_exception=True)
def model_comparison(request, project_id):
    project = get_object_or_404(Project, pk=project_id)
    report = project_comparison(project)
    return render(request, "labeling/model_comparison.html", {
        "project": project, "report": report, "plot": leaderboard_plot(report["leaderboard"]), "flags": FLAGS,
    })


def history(request):
    """The labeler's own finished work, newest first: what they did, when, and how review judged it."""
    page = Paginator(labeler_history(request.user), 50).get_page(request.GET.get("page"))
    rows = []
    for task in page:
        ranking = getattr(task, "ranking", None) if task.kind == TaskKind.RANK else None
        if task.state == TaskState.SKIPPED:
            what = f"Skipped: {task.get_skip_reason_display()}"
        elif ranking is not None:
            what = ranking_summary(ranking)
        elif task.kind == TaskKind.WRITE_PROMPT and task.written_prompt:
            what = task.written_prompt.text
        elif task.kind == TaskKind.WRITE_DEMONSTRATION and hasattr(task, "demonstration"):
            what = task.demonstration.text
        else:
            what = ""
        review = ranking.review_as_labeler_sees_it() if ranking is not None else None
        amendable = ranking is not None and ranking.amend_refusal() is None
        rows.append({"task": task, "review": review, "what": what, "amendable": amendable,
                     "amended": ranking is not None and ranking.amended_at is not None,
                     "prompt": task.prompt.text if task.prompt else "",
                     "seconds": round((ranking or task).time_spent_ms / 1000)})
    return render(request, "labeling/history.html", {"page": page, "rows": rows,
                                                     "amend_minutes": settings.RANKWISE_AMEND_MINUTES})


def qualification(request, project_id):
    """The labeler's own qualification in a project. After a failure, each of their qualification rankings
    is shown beside the reference (never before: the references are the test)."""
    project = get_object_or_404(Project, pk=project_id)
    standing = LabelerQuality.objects.filter(project=project, labeler=request.user).first()
    state = standing.qualification if standing else Qualification.PENDING
    comparisons = []
    if state == Qualification.FAILED:
        rankings = (Ranking.objects.filter(labeler=request.user, prompt__project=project, prompt__gold__isnull=False)
                    .select_related("prompt__gold").prefetch_related("ratings", "prompt__candidates")
                    .order_by("created_at"))
        for ranking in rankings:
            own = {rating.candidate_id: rating.tier for rating in ranking.ratings.all()}
            reference = ranking.prompt.gold.tiers
            comparisons.append({
                "prompt": ranking.prompt.text,
                "agreement": pairwise_agreement(own, reference),
                "candidates": [{"text": c.text, "reference": reference.get(c.id), "own": own.get(c.id)}
                               for c in sorted(ranking.prompt.candidates.all(), key=lambda c: c.index)],
            })
    return render(request, "labeling/qualification.html", {
        "project": project, "standing": standing, "state": state, "states": Qualification,
        "required": project.qualification_tasks, "comparisons": comparisons,
    })


@permission_required(REVIEW_PERMISSION, raise_exception=True)
def review(request, project_id):
    """The reviewer's page: the oldest ranking waiting for review in the project, whole, with a form to
    accept or reject it with a reason. A decision posts back here and the next ranking follows."""
    project = get_object_or_404(Project, pk=project_id)
    errors = {}
    if request.method == "POST":
        decision = request.POST.get("decision")
        try:
            if decision not in ("accept", "reject"):
                raise ValidationError({"decision": "choose accept or reject"})
            workflow.review_ranking(int(request.POST.get("ranking", "0") or 0), request.user,
                                    accept=decision == "accept", reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            errors = exc.message_dict
        except (workflow.ReviewNotFound, ValueError):
            errors = {"ranking": ["it was reviewed meanwhile, or does not exist; here is the next one"]}
        else:
            return redirect("review", project.pk)
    queue = Ranking.objects.review_queue(project, request.user)
    ranking = queue.first()
    rows = [{"rating": rating, "flags": [FLAGS.get(flag, flag) for flag in rating.flags]}
            for rating in (ranking.ratings_in_display_order() if ranking is not None else [])]
    return render(request, "labeling/review.html", {
        "project": project, "ranking": ranking, "rows": rows, "waiting": queue.count(), "errors": errors,
        "reason": request.POST.get("reason", "") if errors else "",
    }, status=400 if errors else 200)


# The per-labeler table's sortable columns: (query key, header).
QUALITY_COLUMNS = [
    ("username", "Labeler"), ("rankings", "Rankings"), ("rankings_per_hour", "Per hour"),
    ("median_ms_per_ranking", "Median s / ranking"), ("median_ms_per_candidate", "Median s / response"),
    ("skip_rate", "Skip rate"), ("peer_agreement", "Peer agreement"), ("peer_tau", "Peer τ"),
    ("gold_accuracy", "Gold accuracy"), ("recent_agreement", "Recent agreement"),
    ("recent_gold_accuracy", "Recent gold accuracy"), ("position_bias", "Position bias"),
    ("length_bias", "Length bias"),
    ("qualification", "Qualification"), ("flagged", "Flagged"),
]
PLOT_WIDTH, PLOT_HEIGHT, PLOT_PAD = 640, 220, 40


def agreement_plot(points):
    """Coordinates of the server-drawn SVG of agreement over time (no script needed): y from 0 to 1."""
    if not points:
        return None
    span_x, span_y = PLOT_WIDTH - 2 * PLOT_PAD, PLOT_HEIGHT - 2 * PLOT_PAD

    def x(i):
        return round(PLOT_PAD + (span_x * i / (len(points) - 1) if len(points) > 1 else span_x / 2), 1)

    def y(value):
        return round(PLOT_PAD + span_y * (1 - value), 1)

    dots = [{"x": x(i), "y": y(p["agreement"]), "label": f"{p['day']}: {p['agreement']:.3f} over {p['prompts']} "
             "prompts"} for i, p in enumerate(points)]
    return {"width": PLOT_WIDTH, "height": PLOT_HEIGHT, "left": PLOT_PAD, "right": PLOT_WIDTH - PLOT_PAD,
            "bottom": PLOT_HEIGHT - PLOT_PAD, "dots": dots, "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
            "ticks": [{"y": y(v), "label": f"{v:.1f}"} for v in (0.0, 0.5, 1.0)],
            "first": points[0]["day"], "last": points[-1]["day"]}


def _cell(key, value):
    if value is None:
        return "–"
    if key.startswith("median_ms"):
        return f"{value / 1000:.1f}"
    if key == "flagged":
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.1f}" if key == "rankings_per_hour" else f"{value:.3f}"
    return str(value)


@permission_required("labeling.manage_project", raise_exception=True)
def quality_page(request, project_id):
    """Where admins look: agreement over time, the per-labeler table (sortable, with why a labeler is
    flagged), contentious prompts and review progress. Every figure is read from the rows kept up to date
    on submit (labeling.quality), so the page costs the same at 100 or 100,000 rankings."""
    project = get_object_or_404(Project, pk=project_id)
    keys = [key for key, _ in QUALITY_COLUMNS]
    sort = request.GET.get("sort") if request.GET.get("sort") in keys else "username"
    descending = request.GET.get("order") == "desc"
    table = quality.labeler_table(project)
    present = [row for row in table if row[sort] is not None]
    table = sorted(present, key=lambda row: row[sort], reverse=descending) + [r for r in table if r[sort] is None]
    columns = [{"key": key, "label": label, "sorted": key == sort,
                "order": "asc" if key == sort and descending else ("desc" if key == sort else "asc")}
               for key, label in QUALITY_COLUMNS]
    return render(request, "labeling/quality.html", {
        "project": project, "figures": quality.project_figures(project), "review": quality.review_progress(project),
        "plot": agreement_plot(quality.agreement_over_time(project)), "columns": columns, "descending": descending,
        "rows": [{"figures": row, "cells": [_cell(key, row[key]) for key in keys]} for row in table],
        "contentious": quality.contentious_prompts(project)[:50],
    })
