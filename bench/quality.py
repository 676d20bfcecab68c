"""Quality control under a simulated team: are bad labelers caught, and are the stored figures right?

The K=3 Open-Assistant groups of ../shared/data/oasst_ranked_groups.jsonl are the truth (each group's
human ranking). They are imported into PROJECTS projects (K=3, overlap 3, gold 10% of the groups with the
human ranking as reference, qualification on: 5 gold tasks), so that every labeler submits at least 40
rankings. The team works through the labeler REST API (Django's test client, in process, on PostgreSQL):
  - 18 careful labelers: the true ranking, each adjacent pair swapped with probability 0.15;
  - bad labelers: random order; always the order shown; careful through qualification, random after it;
  - one length-biased labeler: longest response first.

Prints one JSON object on its last line:
  bad_recall                share of bad labelers flagged (or failing the qualification) in every project
  good_flagged              careful labelers flagged (or failing the qualification) in some project
  max_rankings_before_flag  most rankings a bad labeler submitted in a project before being stopped there
  bad_rankings_exported     bad labelers' rankings in the default RM export (grouped rankings, default filters)
  agreement_error           largest difference between the stored pairwise agreement (per prompt, per
                            labeler, per project) and the bench's own count from what it submitted
  length_bias_top           1 if the length-biased labeler has the highest length bias in every project
  quality_page_ms_p95_100k  p95 of the admin's quality reads with 100,000 rankings stored (the quality
                            page and per-labeler API where they exist, else labeling.quality's figures)

Usage: python bench/quality.py [--projects 3] [--seed 7] [--rankings 100000] [--reads 40]
"""
import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import django
import psycopg
from benchdb import database_url, fresh_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "oasst_ranked_groups.jsonl"
DB_NAME = "rankwise_bench_quality"
os.environ.update({"DATABASE_URL": database_url(DB_NAME),
                   "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_BROKER_URL": "memory://",
                   "DJANGO_DEBUG": "0", "RANKWISE_LOG_LEVEL": "WARNING"})

K, OVERLAP, GOLD_SHARE, QUALIFICATION = 3, 3, 0.10, 5
CAREFUL, SWAP = 18, 0.15
BAD_KINDS = ("random", "shown_order", "careful_then_random")
# The project's rules, as an admin would set them for this team (the API validates them like any setting).
RULES = {"gold_rate": 0.10, "qualification_tasks": QUALIFICATION, "qualification_min_agreement": 0.6,
         "flag_min_gold_accuracy": 0.6, "flag_after_gold": 5, "flag_min_peer_agreement": 0.7,
         "flag_after_comparisons": 20, "flag_max_position_bias": 0.8, "flag_after_rankings": 10,
         "agreement_threshold": 0.0}


# --- Labelers --------------------------------------------------------------------------------------

def careful_order(truth, rng):
    """Candidate ids best first: the true order with each adjacent pair swapped with probability SWAP."""
    order = sorted(truth, key=truth.get)
    for i in range(len(order) - 1):
        if rng.random() < SWAP:
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


def choose_order(kind, task, truth, lengths, done_in_project, rng):
    shown = [c["id"] for c in task["candidates"]]
    if kind == "careful" or (kind == "careful_then_random" and done_in_project < QUALIFICATION):
        return careful_order(truth, rng)
    if kind == "shown_order":
        return shown
    if kind == "length_biased":
        return sorted(shown, key=lambda c: -lengths[c])
    return rng.sample(shown, len(shown))


# --- The bench's own agreement count (independent of rankdata) -----------------------------------------

def same_pairs(a, b):
    """(pairs two rankings {candidate: tier} order alike, pairs) over the candidates' C(K,2) pairs."""
    same = total = 0
    for x, y in combinations(sorted(a), 2):
        total += 1
        same += (a[x] > a[y]) - (a[x] < a[y]) == (b[x] > b[y]) - (b[x] < b[y])
    return same, total


def agreement_error(submitted, gold_prompts, projects):
    """Largest gap between stored and recounted agreement: per prompt, per labeler and per project."""
    from labeling.models import LabelerQuality, PromptAgreement

    errors = [0.0]
    per_labeler, per_project = {}, {}
    stored = {row.prompt_id: row for row in PromptAgreement.objects.all()}
    for (project_id, prompt_id), by_labeler in submitted.items():
        if prompt_id in gold_prompts or len(by_labeler) < 2:
            continue
        same = total = 0
        for (one, a), (other, b) in combinations(by_labeler.items(), 2):
            s, t = same_pairs(a, b)
            same, total = same + s, total + t
            for labeler in (one, other):
                sums = per_labeler.setdefault((project_id, labeler), [0, 0])
                sums[0], sums[1] = sums[0] + s, sums[1] + t
        sums = per_project.setdefault(project_id, [0, 0])
        sums[0], sums[1] = sums[0] + same, sums[1] + total
        errors.append(abs(stored[prompt_id].agreement - same / total))
    for row in LabelerQuality.objects.filter(peer_pairs__gt=0):
        same, total = per_labeler[(row.project_id, row.labeler_id)]
        errors.append(abs(row.peer_agreement - same / total))
    from labeling.quality import project_figures

    for project in projects:
        same, total = per_project[project.pk]
        errors.append(abs(project_figures(project)["pairwise_agreement"] - same / total))
    return max(errors)


# --- The run ---------------------------------------------------------------------------------------

def setup_projects(admin_client, count, groups, rng):
    from labeling.models import Candidate, Project

    projects, truth, lengths, gold_prompts = [], {}, {}, set()
    lines = "\n".join(json.dumps({"messages": g["messages"], "candidates": g["responses"], "id": str(i)})
                      for i, g in enumerate(groups))
    for n in range(count):
        from exports.tasks import run_import_job

        made = admin_client.post("/api/projects/", {"name": f"quality bench {n}", "k": K, "overlap": OVERLAP,
                                                    "demonstrations_enabled": False, "write_prompts_enabled": False,
                                                    **RULES}, format="json")
        assert made.status_code == 201, made.content
        project = Project.objects.get(pk=made.json()["id"])
        upload = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
        upload.write(lines)
        upload.close()
        with open(upload.name, "rb") as file:
            imported = admin_client.post(f"/api/projects/{project.pk}/import/", {"file": file}, format="multipart")
        os.unlink(upload.name)
        # Web imports are Celery jobs now (202); this process plays the worker and runs the job itself.
        assert imported.status_code == 202, imported.content
        run_import_job(imported.json()["id"])
        prompts = {}
        for candidate in Candidate.objects.filter(prompt__project=project).select_related("prompt"):
            group = groups[int(candidate.prompt.external_id)]
            truth.setdefault(candidate.prompt_id, {})[candidate.pk] = group["ranks"][candidate.index] + 1
            lengths[candidate.pk] = len(candidate.text)
            prompts[candidate.prompt_id] = group
        for prompt_id in rng.sample(sorted(prompts), round(GOLD_SHARE * len(prompts))):
            reference = [rank + 1 for rank in prompts[prompt_id]["ranks"]]
            marked = admin_client.post(f"/api/projects/{project.pk}/gold/", {"prompt": prompt_id,
                                                                             "reference": reference}, format="json")
            assert marked.status_code == 201, marked.content
            gold_prompts.add(prompt_id)
        projects.append(project)
    return projects, truth, lengths, gold_prompts


def stopped(project, user):
    from labeling.models import LabelerQuality, Qualification

    standing = LabelerQuality.objects.filter(project=project, labeler=user).first()
    return standing is not None and (standing.is_flagged or standing.qualification == Qualification.FAILED)


def run_team(projects, team, truth, lengths, rng):
    """Every labeler works every project through the API until none has a task left; returns what was
    submitted {(project, prompt): {labeler id: {candidate: tier}}} and, per (labeler, project), the
    rankings submitted before the labeler was stopped there."""
    from tests.conftest import client_for

    submitted, before_stop = {}, {}
    for project in projects:
        pending = {user.pk: None for user, _ in team}  # the task each labeler holds
        active = list(team)
        done = {user.pk: 0 for user, _ in team}
        while active:
            rng.shuffle(active)
            still = []
            for user, kind in active:
                client = client_for(user)
                task = pending[user.pk]
                if task is None:
                    response = client.post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json")
                    if response.status_code == 204:
                        continue
                    task = response.json()
                order = choose_order(kind, task, truth[task["prompt"]["id"]], lengths, done[user.pk], rng)
                tiers = {candidate: position + 1 for position, candidate in enumerate(order)}
                ratings = [{"candidate": c, "tier": tiers[c], "likert": 4} for c in tiers]
                # Seconds per task like people take (the speed rule is not what this bench measures).
                response = client.post(f"/api/tasks/{task['id']}/ranking/",
                                       {"ratings": ratings, "time_spent_ms": rng.randint(15_000, 60_000)},
                                       format="json")
                assert response.status_code == 200, response.content
                submitted.setdefault((project.pk, task["prompt"]["id"]), {})[user.pk] = tiers
                done[user.pk] += 1
                if not stopped(project, user):
                    before_stop[(user.pk, project.pk)] = done[user.pk]
                pending[user.pk] = response.json()["next"]
                if pending[user.pk] is not None:
                    still.append((user, kind))
            active = still
    return submitted, before_stop


def exported_rankings_by(project, user_ids):
    """Rankings of `user_ids` in the project's default RM export (grouped rankings, default filters)."""
    from django.contrib.auth.models import User

    from exports.datasets import pseudonym
    from exports.runner import run_export
    from exports.spec import ExportSpec

    names = {pseudonym(user.pk, user.username) for user in User.objects.filter(pk__in=user_ids)}
    with tempfile.TemporaryDirectory() as folder:
        path, _ = run_export(ExportSpec(project_id=project.pk, dataset="grouped", format="jsonl"), Path(folder))
        with open(path) as rows:
            return sum(json.loads(line)["labeler"] in names for line in rows)


# --- Reads at 100,000 rankings ---------------------------------------------------------------------

def seed_rankings(total, labelers=100):
    """A project with `total` rankings (K=3, overlap 3) and their stored figures. One prompt is ranked
    through the workflow; the rest are copies of its rows in set-based SQL (bench/labeler_api.copies: the
    submit path would take an hour), with labelers, tiers and times varied: the reads only need the rows."""
    from django.contrib.auth.models import User

    from bench.labeler_api import copies
    from labeling import workflow
    from labeling.models import Candidate, CandidateRating, LabelerQuality, Project, Ranking, Task, TaskKind

    project = Project.objects.create(name="100k rankings", k=K, overlap=OVERLAP, gold_rate=0)
    users = User.objects.bulk_create([User(username=f"seeded{i}") for i in range(labelers)])
    first_user = min(user.pk for user in users)
    template = workflow.create_prompt(project, messages=[{"role": "user", "content": "Template prompt"}],
                                      candidates=["x" * 20, "x" * 60, "x" * 100])
    task = workflow.lease_next(users[0], project, TaskKind.RANK)
    ranking = workflow.submit_ranking(task.pk, users[0], time_spent_ms=20000, ratings=[
        {"candidate": c, "tier": i + 1, "likert": 4} for i, c in enumerate(task.display_order)])
    prompts, others = total // OVERLAP, f"p.id <> {template.pk} AND p.project_id = {project.pk}"
    with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as conn:
        copies(conn, "labeling_prompt", template.pk, f"generate_series(2, {prompts}) n", {
            "messages": "jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Seeded prompt ' || n))",
            "external_id": "n::text", "state": "'done'"})
        for candidate in Candidate.objects.filter(prompt=template):
            copies(conn, "labeling_candidate", candidate.pk, "labeling_prompt p", {"prompt_id": "p.id"}, others)
        copies(conn, "labeling_task", task.pk, f"labeling_prompt p CROSS JOIN generate_series(0, {OVERLAP - 1}) j", {
            "prompt_id": "p.id", "labeler_id": f"{first_user} + (p.id * 7 + j * 31) %% {labelers}",
            "time_spent_ms": "5000 + (p.id * 13 + j) %% 40000",
            "finished_at": "now() - (p.id %% 1000) * interval '1 minute'"}, others)
        copies(conn, "labeling_ranking", ranking.pk, "labeling_task x", {
            "prompt_id": "x.prompt_id", "labeler_id": "x.labeler_id", "task_id": "x.id",
            "time_spent_ms": "x.time_spent_ms", "created_at": "x.finished_at"},
            f"x.project_id = {project.pk} AND x.prompt_id <> {template.pk}")
        for rating in CandidateRating.objects.filter(ranking=ranking).select_related("candidate"):
            copies(conn, "labeling_candidaterating", rating.pk,
                   f"labeling_ranking r JOIN labeling_candidate c ON c.prompt_id = r.prompt_id"
                   f" AND c.index = {rating.candidate.index}",
                   {"ranking_id": "r.id", "candidate_id": "c.id", "tier": f"1 + (c.index + r.id) %% {K}"},
                   f"r.prompt_id IN (SELECT id FROM labeling_prompt p WHERE {others})")
        conn.execute(
            "INSERT INTO labeling_promptagreement (prompt_id, project_id, rankings, agreeing_pairs, pairs, tau_sum,"
            " tau_count, extra_slots, contentious, updated_at)"
            f" SELECT id, project_id, {OVERLAP}, id % 10, 9, 0.3, 3, 0, id % 50 = 0, now() FROM labeling_prompt p"
            f" WHERE {others}")
        conn.execute("VACUUM ANALYZE")  # as autovacuum would have by now: index-only scans see the rows
    per_labeler = total // labelers
    LabelerQuality.objects.filter(project=project).delete()
    LabelerQuality.objects.bulk_create([LabelerQuality(
        project=project, labeler_id=first_user + i, rankings=per_labeler, candidates_ranked=per_labeler * K,
        time_spent_ms=per_labeler * 20000, peer_comparisons=per_labeler * 2, peer_agreeing_pairs=per_labeler * 5,
        peer_pairs=per_labeler * 6, gold_rankings=per_labeler // 10, gold_agreeing_pairs=per_labeler // 5,
        gold_pairs=per_labeler // 10 * 3, position_n=per_labeler * K, position_sx=per_labeler * 6,
        position_sy=per_labeler * 6, position_sxx=per_labeler * 14, position_syy=per_labeler * 14,
        position_sxy=per_labeler * 12, length_n=per_labeler * K, length_sx=per_labeler * 6,
        length_sy=per_labeler * 6, length_sxx=per_labeler * 14, length_syy=per_labeler * 14,
        length_sxy=per_labeler * 11) for i in range(labelers)])
    assert Ranking.objects.filter(prompt__project=project).count() >= total - OVERLAP
    assert Task.objects.filter(project=project, state="submitted").count() >= total - OVERLAP
    return project, first_user


def time_reads(admin, project, first_user, reads):
    """p95 (ms) over the admin's quality reads: the quality page and per-labeler API where main has them,
    else labeling.quality's table and figures (what they are built from)."""
    from django.contrib.auth.models import User
    from django.urls import NoReverseMatch, reverse

    from labeling import quality
    from tests.conftest import client_for

    admin_client = client_for(admin)
    admin_client.force_login(admin)  # the page is a Django view: a session, not DRF's forced authentication
    calls = []
    for name, kwargs in (("quality", {"project_id": project.pk}), ("project-quality", {"pk": project.pk})):
        try:
            url = reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
        calls.append(("page", lambda url=url: admin_client.get(url)))
    for url in (f"/api/projects/{project.pk}/labelers/", f"/api/projects/{project.pk}/quality/"):
        if admin_client.get(url).status_code == 200:
            calls.append(("api", lambda url=url: admin_client.get(url)))
    if not calls:
        labeler = User.objects.get(pk=first_user)
        calls = [("table", lambda: quality.labeler_table(project)),
                 ("figures", lambda: quality.project_figures(project)),
                 ("labeler", lambda: quality.labeler_figures(project, labeler))]
    timings = []
    for _ in range(reads):
        for _, call in calls:
            start = time.perf_counter()
            result = call()
            timings.append((time.perf_counter() - start) * 1000)
            assert getattr(result, "status_code", 200) == 200
    return statistics.quantiles(timings, n=20)[18], sorted({what for what, _ in calls})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rankings", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=40)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # The server's draws too (gold mix, display order, review sample: labeling.draws), so that a seed replays a run.
    os.environ["RANKWISE_RANDOM_SEED"] = str(args.seed)
    started = time.perf_counter()
    fresh_database(DB_NAME)
    django.setup()

    from labeling.models import LabelerQuality, Ranking
    from tests.conftest import client_for, make_user

    groups = [json.loads(line) for line in open(DATA)]
    groups = [g for g in groups if len(g["responses"]) == K]
    from labeling.roles import ADMIN_GROUP, sync_roles

    sync_roles()
    admin = make_user("bench-admin", ADMIN_GROUP, is_staff=True)
    admin_client = client_for(admin)
    projects, truth, lengths, gold_prompts = setup_projects(admin_client, args.projects, groups, rng)
    team = [(make_user(f"careful{i}", "labeler"), "careful") for i in range(CAREFUL)]
    team += [(make_user(kind, "labeler"), kind) for kind in BAD_KINDS]
    team.append((make_user("length_biased", "labeler"), "length_biased"))
    submitted, before_stop = run_team(projects, team, truth, lengths, rng)
    simulated = time.perf_counter() - started

    bad = [user for user, kind in team if kind in BAD_KINDS]
    careful = [user for user, kind in team if kind == "careful"]
    caught = {user.pk: all(stopped(project, user) for project in projects
                           if Ranking.objects.filter(labeler=user, prompt__project=project).exists())
              for user in bad}
    length_top = all(
        max(LabelerQuality.objects.filter(project=project, length_n__gt=0), key=lambda s: s.length_bias or -2)
        .labeler.username == "length_biased" for project in projects)
    counts = {user.username: Ranking.objects.filter(labeler=user).count() for user, _ in team}
    result = {
        "bad_recall": sum(caught.values()) / len(bad),
        "good_flagged": sum(any(stopped(project, user) for project in projects) for user in careful),
        "max_rankings_before_flag": max(before_stop.get((user.pk, project.pk), 0) + 1
                                        if stopped(project, user) else counts[user.username]
                                        for user in bad for project in projects),
        "bad_rankings_exported": sum(exported_rankings_by(project, [user.pk for user in bad]) for project in projects),
        "agreement_error": agreement_error(submitted, gold_prompts, projects),
        "length_bias_top": int(length_top),
    }
    detail = {
        "projects": len(projects), "groups_per_project": len(groups), "gold_per_project": len(gold_prompts) // len(projects),
        "rankings": Ranking.objects.count(), "min_rankings_per_labeler": min(counts.values()),
        "rankings_per_labeler": counts, "simulation_seconds": round(simulated, 1),
        "flags": {s.labeler.username + "@" + str(s.project_id): s.flag_reasons or s.qualification
                  for s in LabelerQuality.objects.select_related("labeler")
                  if s.is_flagged or s.qualification == "failed"},
    }
    print(json.dumps(detail), file=sys.stderr)
    project, first_user = seed_rankings(args.rankings)
    result["quality_page_ms_p95_100k"], read = time_reads(admin, project, first_user, args.reads)
    result["quality_reads_timed"] = read
    print(json.dumps(result))


if __name__ == "__main__":
    main()
