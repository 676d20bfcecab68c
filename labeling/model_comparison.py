"""A project's human model comparison: its rankings read as rankdata.model_comparison wants them, and the
leaderboard plot's geometry. The statistics themselves are in rankdata.model_comparison (no Django)."""
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Length, NullIf

from labeling.models import CandidateRating
from labeling.validation import FLAGS
from rankdata.model_comparison import Rated, compare_models

UNKNOWN_MODEL = "unknown"


def project_rankings(project):
    """Every ranking of the project as a list of `Rated`, one per candidate, in candidate order. A
    candidate's model is its generator's name, or its model name when it has none (imported, older)."""
    rows = (CandidateRating.objects.filter(ranking__prompt__project=project)
            .annotate(model=Coalesce(NullIf(F("candidate__generator"), Value("")),
                                     NullIf(F("candidate__model_name"), Value("")), Value(UNKNOWN_MODEL)),
                      length=Length("candidate__text"))
            .order_by("ranking_id", "candidate__index")
            .values_list("ranking_id", "model", "tier", "length", "likert", "flags", "candidate__reward"))
    rankings = {}
    for ranking_id, model, tier, length, likert, flags, reward in rows.iterator(chunk_size=5000):
        rankings.setdefault(ranking_id, []).append(Rated(model, tier, length, likert, tuple(flags or ()), reward))
    return list(rankings.values())


def project_comparison(project, rounds=200, seed=0):
    return compare_models(project_rankings(project), flag_names=list(FLAGS), rounds=rounds, seed=seed)


# The leaderboard plot: one row per model, its interval as a line and its estimate as a dot.
PLOT_WIDTH, PLOT_LEFT, PLOT_RIGHT, ROW_HEIGHT, PLOT_TOP = 640, 170, 30, 34, 30


def leaderboard_plot(leaderboard):
    """Coordinates for a server-drawn SVG of arena ratings with their intervals (no script needed)."""
    if not leaderboard:
        return None
    low = min(row["rating_ci"][0] for row in leaderboard)
    high = max(row["rating_ci"][1] for row in leaderboard)
    pad = max((high - low) * 0.1, 10)
    low, high = low - pad, high + pad
    span = PLOT_WIDTH - PLOT_LEFT - PLOT_RIGHT

    def x(value):
        return round(PLOT_LEFT + span * (value - low) / (high - low), 1)

    rows = [{"model": row["model"], "y": PLOT_TOP + i * ROW_HEIGHT, "x": x(row["rating"]),
             "x_low": x(row["rating_ci"][0]), "x_high": x(row["rating_ci"][1]), "rating": row["rating"]}
            for i, row in enumerate(leaderboard)]
    height = PLOT_TOP + len(rows) * ROW_HEIGHT
    ticks = [{"x": x(low + (high - low) * i / 4), "label": round(low + (high - low) * i / 4)} for i in range(5)]
    return {"width": PLOT_WIDTH, "height": height + 20, "axis_y": height - ROW_HEIGHT // 2 + 8, "left": PLOT_LEFT,
            "right": PLOT_WIDTH - PLOT_RIGHT, "rows": rows, "ticks": ticks}
