"""Benchmark: does the human model comparison find the better model, and do its intervals hold the truth?

Three generators of one project (a tiny Llama built here with save_pretrained, sampled three ways: a
"good" one, a hotter "worse" one and a cut-short "worst" one) write the K=3 candidates of each prompt
through the real generation job (worker.generation_jobs), one candidate each. Simulated labelers then rank
every prompt through the real ranking API (DRF, in-process, on PostgreSQL): each ranks the three
candidates by a Plackett-Luce draw with weights exp(strength of the candidate's generator), so that any
two candidates are ordered as Bradley-Terry with the known TRUE_STRENGTHS says. The leaderboard is then
read from the database by labeling.model_comparison, exactly as the admin page reads it.

- order_correct: 1 when that leaderboard ranks the three generators in their true order.
- ci_coverage: the share of the 95% bootstrap intervals (every generator, in each of --simulations
  repeated simulations of the labelers on the same candidate sets, computed in memory by the same
  rankdata.model_comparison code) that hold the generator's true strength (centred, as the fit is).

Then an API user with consent sends a seeded set of prompts to POST /v1/chat/completions (in-process
Django test client, the project's first generator answering): --families distinct prompts, each with two
near-duplicates (other case, spacing and punctuation, another ending, another e-mail address), shuffled.
- intake_duplicates: near-duplicates filed beyond the first prompt of each family (goal 0).
- intake_p95_ms_overhead: 95th percentile of (the request's time in the client) minus (the generator's
  own time, from the Server-Timing header): middleware, authentication, validation, masking, the pending
  filing's INSERT and queueing its id, response. The filing itself (deduplication, the cap, the writes)
  runs in a Celery task: the bench takes those tasks off the in-memory broker afterwards and runs them as a
  worker would, and intake_duplicates counts what they filed. intake_p50_ms_parts: the endpoint's own
  split (Server-Timing).
- intake_hosted_p95_ms_overhead (and _parts): the same calls to a project whose generator is an
  OpenAI-compatible server in another process that answers at once, as README advises for API traffic;
  its "generation" part is then the HTTP round trip to the generator.
The tiny generators run on --torch-threads threads (1): see its help.

Last, active learning on ../shared/data/hh_harmless_pairs.jsonl (1,703 crowd-labeled pairs):
- labels_to_target_ratio: the labels uncertainty order needs to reach the test accuracy random order
  reaches with --al-budget (600) labels, divided by that budget (goal <= 0.8; above 1 means uncertainty
  order needs more). Each of --al-repetitions random splits holds out --al-test pairs; both orders start
  from the same 40 random labels and add --al-step labels a round, the reward model retrained each round:
  random order takes the next pairs of the shuffled pool, uncertainty order the pairs whose two responses
  the current reward model scores closest together. The orders are the platform's own: the pairs are a
  K=2 project's prompts, each round's rewards are written onto their candidates and
  workflow.set_rank_priorities orders the rank slots as the queue serves them.
- labels_to_target_ratio_disagreement: the same with the disagreement order, the previous round's
  reward model standing for the previous version.
The target and the crossings are read from the mean curves. The reward model is the platform's with its
  backbone frozen: all-MiniLM-L6-v2 features computed once (rewards.training's encoding and pooling, 128
  tokens) and a linear head trained with its ranking loss. --al-reward-model fine-tuned has the platform's
  trainer fine-tune the backbone every round instead, as retraining would: hours on this 2-core CPU (about
  half a second per pair and epoch), so it is for a GPU.

    python bench/arena.py [--prompts 80] [--overlap 2] [--simulations 100] [--rounds 200]

Prints a line per stage and, as the last line, one JSON object.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchdb import database_url, fresh_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "rankwise_bench_arena"
os.environ.update({"DATABASE_URL": database_url(DB_NAME),
                   "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_BROKER_URL": "memory://",
                   "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "",
                   "RANKWISE_LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore"})

import django  # noqa: E402
import numpy as np  # noqa: E402

from tests.tiny_models import tiny_llama  # noqa: E402

# Bradley-Terry strengths (log-odds) the simulated labelers judge by: good beats worse 69% of the time,
# worse beats worst 69%, good beats worst 83%.
TRUE_STRENGTHS = {"good": 0.8, "worse": 0.0, "worst": -0.8}
K = 3


def log(message):
    print(message, flush=True)


def make_project(model_path, prompt_count, overlap):
    """A project whose three generators write one candidate each, and its prompts with their candidates."""
    from labeling import workflow
    from labeling.models import Project, Prompt
    from worker import generation_jobs

    base = {"backend": "transformers", "model": model_path, "top_p": 1.0, "ignore_eos": True}
    project = Project.objects.create(name="Arena", k=K, overlap=overlap, demonstrations_enabled=False,
                                     write_prompts_enabled=False, generation={"generators": [
                                         {"name": "good", **base, "temperature": 0.7, "max_new_tokens": 12},
                                         {"name": "worse", **base, "temperature": 1.5, "max_new_tokens": 12},
                                         {"name": "worst", **base, "temperature": 2.0, "max_new_tokens": 3},
                                     ]})
    for n in range(prompt_count):
        workflow.create_prompt(project, messages=[{"role": "user", "content": f"Arena prompt {n}: say hello."}])
    ids = list(Prompt.objects.filter(project=project).values_list("pk", flat=True))
    started = time.perf_counter()
    stored = 0
    while True:
        result = generation_jobs.generate_for_prompts(ids, owner="bench-arena")
        stored += result["stored"]
        if not result["stored"]:
            break
    log(f"generated {stored} candidate sets of K={K} in {time.perf_counter() - started:.1f} s")
    return project


def plackett_luce_tiers(strengths, rng):
    """Tiers (1 = best, no ties) of one labeler's ranking: pick the best by softmax of strength, then the
    next among the rest... Any two candidates end up ordered as Bradley-Terry with those strengths."""
    left = list(range(len(strengths)))
    tiers = [0] * len(strengths)
    for tier in range(1, len(strengths) + 1):
        weights = np.exp([strengths[i] for i in left])
        chosen = left[rng.choice(len(left), p=weights / weights.sum())]
        tiers[chosen] = tier
        left.remove(chosen)
    return tiers


def label_through_the_api(project, labelers, rng):
    """Every labeler takes rank tasks through the API until none is left for them; returns the rankings."""
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from labeling.models import Candidate

    generator_of = dict(Candidate.objects.filter(prompt__project=project).values_list("pk", "generator"))
    submitted, started = 0, time.perf_counter()
    for n in range(labelers):
        client = APIClient()
        client.force_login(User.objects.create_user(f"arena-labeler-{n}"))
        while True:
            response = client.post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json")
            if response.status_code == 204:
                break
            task = response.json()
            shown = [c["id"] for c in task["candidates"]]
            tiers = plackett_luce_tiers([TRUE_STRENGTHS[generator_of[c]] for c in shown], rng)
            answer = client.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": [
                {"candidate": c, "tier": t, "likert": 4, "flags": []} for c, t in zip(shown, tiers)]}, format="json")
            assert answer.status_code in (200, 201), answer.content
            submitted += 1
    log(f"{labelers} simulated labelers submitted {submitted} rankings through the API "
        f"in {time.perf_counter() - started:.1f} s")
    return submitted


OPENINGS = ["Write a detailed and friendly product description", "Explain to a ten year old child how",
            "Draft a polite e-mail to my landlord", "Give me a step by step plan for", "Summarise in three bullets",
            "Compose a short rhyming poem about", "List the main arguments for and against",
            "Suggest five names for a new bakery", "Translate into plain English the idea that"]


def intake_family(n, rng):
    """A prompt over 64 characters and two near-duplicates of it sharing its first 64 normalised characters."""
    topic = f"topic number {n} ({OPENINGS[n % len(OPENINGS)].split()[-1]}), contact me at person{n}@example.com"
    base = f"{OPENINGS[n % len(OPENINGS)]} {topic}, and keep it under two hundred words please."
    return [base,
            base.upper().replace(" ", "  ").replace(",", " ,"),
            base.replace(f"person{n}@example.com", f"someone.else{rng.integers(1000)}@mail.example.org")[:-7]
            + "thanks a lot!"]


def server_timing(response):
    """{part: ms} from the endpoint's Server-Timing header."""
    parts = (item.strip().partition(";dur=") for item in response["Server-Timing"].split(","))
    return {name: float(ms) for name, _, ms in parts}


def run_queued_filings():
    """Take the intake's filing tasks off the (in-memory) broker in the order they were queued and run them
    in this process, as a worker would; returns their outcomes."""
    from celery import current_app

    from intake.filing import FILE_PROMPT_TASK
    from intake.tasks import file_prompt

    outcomes = []
    with current_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(current_app.conf.task_default_queue, no_ack=True)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            if message.headers.get("task") == FILE_PROMPT_TASK:
                args, kwargs, _ = message.decode()
                outcomes.append(file_prompt(*args, **kwargs))
    return outcomes


def call_intake(token, model, sent):
    """Each (family, text) of `sent` through the endpoint; (overheads in ms, {part: [ms]} from Server-Timing)."""
    from django.test import Client

    client, overheads, parts = Client(), [], {}
    for family, text in sent:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
        started = time.perf_counter()
        response = client.post("/v1/chat/completions", body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and response["X-Rankwise-Intake"] == "queued", response.content
        timing = server_timing(response)
        overheads.append(elapsed - timing["generation"])
        for name, ms in timing.items():
            parts.setdefault(name, []).append(ms)
    return overheads, {name: round(float(np.percentile(ms, 50)), 2) for name, ms in parts.items()}


def intake(project, families, rng):
    """Send the seeded set through the endpoint, then run the filing tasks it queued; (near-duplicates
    filed, p95 overhead in ms, p50 of each part of the endpoint's own time)."""
    from intake.models import ApiUser

    _, token = ApiUser.objects.create_with_token(name="bench", project=project, consent=True)
    sent = [(family, text) for family in range(families) for text in intake_family(family, rng)]
    rng.shuffle(sent)
    overheads, parts_p50 = call_intake(token, "good", sent)
    started = time.perf_counter()
    outcomes = run_queued_filings()
    assert len(outcomes) == len(sent), f"{len(outcomes)} filing tasks queued for {len(sent)} calls"
    filed = {}
    for (family, _), outcome in zip(sent, outcomes):
        filed[family] = filed.get(family, 0) + (outcome == "stored")
    duplicates = sum(max(0, n - 1) for n in filed.values())
    log(f"the worker's part: {len(outcomes)} filing tasks in {time.perf_counter() - started:.1f} s")
    p95 = float(np.percentile(overheads, 95))
    log(f"intake: {len(sent)} calls ({families} families of 3), {sum(filed.values())} filed, {duplicates} "
        f"near-duplicates among them; overhead over the generator p50 {np.percentile(overheads, 50):.1f} ms, "
        f"p95 {p95:.1f} ms; the endpoint's parts (Server-Timing, p50 ms): {parts_p50}")
    return duplicates, p95, parts_p50


# An OpenAI-compatible generator that answers at once, in its own process as a real one would be: what the
# endpoint adds in front of a hosted model, the HTTP hop to it included (Server-Timing's "generation").
STUB_GENERATOR = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as vLLM and TGI answer
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart (delayed ACK)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps({"id": "stub", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def intake_before_a_hosted_model(families, rng):
    """The same calls to a project whose generator is the stub above; (p95 overhead in ms, parts' p50)."""
    import subprocess

    from intake.models import ApiUser
    from labeling.models import Project

    stub = subprocess.Popen([sys.executable, "-c", STUB_GENERATOR], stdout=subprocess.PIPE, text=True)
    try:
        port = int(stub.stdout.readline())
        project = Project.objects.create(name="Arena, hosted", k=K, demonstrations_enabled=False, generation={
            "backend": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "stub", "max_new_tokens": 16})
        _, token = ApiUser.objects.create_with_token(name="bench-hosted", project=project, consent=True)
        sent = [(family, text) for family in range(families) for text in intake_family(family, rng)]
        overheads, parts_p50 = call_intake(token, "default", sent)
        run_queued_filings()
    finally:
        stub.terminate()
        stub.wait()
    p95 = float(np.percentile(overheads, 95))
    log(f"intake before an OpenAI-compatible generator in another process: overhead p50 "
        f"{np.percentile(overheads, 50):.1f} ms, p95 {p95:.1f} ms; parts (p50 ms, generation = the HTTP round "
        f"trip to a generator that answers at once): {parts_p50}")
    return p95, parts_p50


def frozen_features(groups, max_length):
    """Each response's features under the platform reward model's frozen backbone (all-MiniLM-L6-v2, the
    trainer's default): rewards.training's own encoding, truncation and pooling, with the linear head
    replaced by the identity, so a linear head on these features is the platform RM with its backbone
    frozen. Returns an array (groups, 2, hidden)."""
    import torch

    from rewards.training import score
    from rewards.training.model import default_backbone_path, load_backbone

    model, tokenizer = load_backbone(default_backbone_path(), device=torch.device("cpu"))
    model.head = torch.nn.Identity()
    tokenizer.model_max_length = max_length
    prompts = [group.prompt for group in groups for _ in group.responses]
    responses = [response for group in groups for response in group.responses]
    with torch.inference_mode():
        features = np.array(score(model, tokenizer, prompts, responses, batch_size=64), dtype=np.float32)
    return features.reshape(len(groups), 2, -1)


def fit_head(features, winners, weight_decay):
    """A linear reward head on frozen features, trained to convergence (L-BFGS, full batch) with the
    platform trainer's ranking loss (rewards.training.loss), and an L2 penalty; returns its weights."""
    import torch

    from rewards.training.loss import ranking_loss

    rows = torch.tensor(features.reshape(-1, features.shape[-1]))
    groups = torch.arange(len(features))
    winner_rows = 2 * groups + torch.tensor(winners)
    weights = torch.zeros(rows.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = ranking_loss(rows @ weights, winner_rows, 2 * groups + 1 - torch.tensor(winners), groups)
        loss = loss + weight_decay * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().numpy()


class FrozenBackbone:
    """The platform's reward model with its backbone frozen: features computed once, a linear head fitted to
    the labeled pairs each round (minutes on a CPU for the whole experiment)."""

    description = "frozen all-MiniLM-L6-v2 features + linear head (ranking loss, L-BFGS), retrained every round"

    def __init__(self, groups, args):
        self.features, self.weight_decay = frozen_features(groups, args.al_max_length), args.al_weight_decay

    def rewards_after_training_on(self, labeled, winners):
        return self.features @ fit_head(self.features[labeled], winners[labeled], self.weight_decay)


class FineTuned:
    """The platform's reward model as its trainer makes it (rewards.training.train_reward_model: the backbone
    fine-tuned with the ranking loss), trained from the backbone on the labeled pairs each round, then scoring
    every pair. About half a second per pair and epoch on this 2-core CPU (46 s for 80 pairs, loading
    included), so the full experiment takes hours here: it is meant for a GPU (the trainer takes one when
    there is one)."""

    description = "all-MiniLM-L6-v2 fine-tuned by rewards.training.train_reward_model, from scratch every round"

    def __init__(self, groups, args):
        from rewards.training import RewardConfig

        self.groups = groups
        self.config = RewardConfig(max_length=args.al_max_length, epochs=args.al_epochs, seed=args.seed,
                                   early_stopping_patience=None)
        # What each round's model scores: every response of every pair, with its prompt.
        self.prompts = [group.prompt for group in groups for _ in group.responses]
        self.responses = [response for group in groups for response in group.responses]

    def rewards_after_training_on(self, labeled, winners):
        from rewards.training import score, train_reward_model

        trained = train_reward_model(self.config, [self.groups[i] for i in labeled], [])
        rewards = score(trained.model, trained.tokenizer, self.prompts, self.responses, batch_size=64)
        return np.array(rewards, dtype=np.float64).reshape(len(self.groups), 2)


REWARD_MODELS = {"frozen": FrozenBackbone, "fine-tuned": FineTuned}


class PlatformQueue:
    """The HH pairs as a K=2 project's prompts with one open rank slot each. A round's rewards go onto the
    candidates (and the round before's onto previous_reward, as a rescoring stores two versions' scores),
    and the platform's own workflow.set_rank_priorities orders the slots: the queue serves lowest priority,
    then oldest, first."""

    def __init__(self, size):
        from labeling.models import Candidate, Project, Prompt, PromptState, Task, TaskKind

        self.project = Project.objects.create(name="Active learning", k=2, overlap=1, demonstrations_enabled=False,
                                              write_prompts_enabled=False)
        prompts = Prompt.objects.bulk_create([
            Prompt(project=self.project, messages=[{"role": "user", "content": f"HH pair {i}"}],
                   state=PromptState.READY) for i in range(size)])
        candidates = Candidate.objects.bulk_create([Candidate(prompt=prompt, index=index, text=f"response {index}")
                                                    for prompt in prompts for index in range(2)])
        Task.objects.bulk_create([Task(project=self.project, prompt=prompt, kind=TaskKind.RANK) for prompt in prompts])
        self.candidate_ids = [candidate.pk for candidate in candidates]  # pair i's responses: 2i and 2i + 1
        self.pair_of_prompt = {prompt.pk: i for i, prompt in enumerate(prompts)}

    def order(self, rank_order, rewards, previous):
        """Pair indexes in the order the queue serves them under `rank_order`; `rewards` and `previous`
        (or None) hold two rewards per pair."""
        from django.db import connection

        from labeling import workflow
        from labeling.models import Task, TaskKind

        previous_rewards = [None] * len(self.candidate_ids) if previous is None else previous.ravel().tolist()
        with connection.cursor() as cursor:
            cursor.execute("""
                UPDATE labeling_candidate candidate SET reward = new.reward, previous_reward = new.previous
                FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS new(id, reward, previous)
                WHERE candidate.id = new.id""", [self.candidate_ids, rewards.ravel().tolist(), previous_rewards])
        self.project.rank_order = rank_order
        workflow.set_rank_priorities(self.project)
        with connection.cursor() as cursor:
            # Each round rewrites every row of both tables. A deployment rescores a few times a day and
            # autovacuum keeps up; here hundreds of rounds a minute left over a million dead rows behind
            # (autovacuum had not run) and each UPDATE slower than the last.
            cursor.execute("VACUUM labeling_candidate, labeling_task")
        served = (Task.objects.filter(project=self.project, kind=TaskKind.RANK).order_by("priority", "id")
                  .values_list("prompt_id", flat=True))
        return [self.pair_of_prompt[prompt_id] for prompt_id in served]


def active_learning(args):
    """Labels that the uncertainty order (and the disagreement order) need to reach the reward-model
    accuracy random order reaches with --al-budget labels, on the HH-RLHF harmless pairs (see
    labels_to_target_ratio in the JSON)."""
    from labeling.models import RankOrder
    from rewards.training.data import load_jsonl

    groups = load_jsonl(ROOT.parent / "shared" / "data" / "hh_harmless_pairs.jsonl")
    started = time.perf_counter()
    reward_model = REWARD_MODELS[args.al_reward_model](groups, args)
    log(f"active learning: {len(groups)} HH-RLHF harmless pairs, {reward_model.description} "
        f"({args.al_max_length} tokens), set up in {time.perf_counter() - started:.0f} s")
    winners = np.array([group.tiers.index(1) for group in groups])  # 0 or 1: which response the crowd chose
    chosen, rejected = np.arange(len(groups)) * 2 + winners, np.arange(len(groups)) * 2 + 1 - winners
    budgets = list(range(args.al_step, len(groups) - args.al_test, args.al_step))
    if args.al_budget not in budgets:
        raise SystemExit(f"--al-budget must be a multiple of --al-step below the pool size, one of {budgets}")
    queue = PlatformQueue(len(groups))
    orders = {"random": RankOrder.ARRIVAL, "uncertainty": RankOrder.UNCERTAINTY,
              "disagreement": RankOrder.DISAGREEMENT}
    curves = {name: [] for name in orders}
    for repetition in range(args.al_repetitions):
        shuffled = np.random.default_rng(args.seed + repetition).permutation(len(groups))
        test, pool = shuffled[:args.al_test], shuffled[args.al_test:]
        for name, rank_order in orders.items():
            labeled, curve, previous = list(pool[:args.al_step]), [], None
            unlabeled = set(pool[args.al_step:].tolist())
            for budget in budgets:
                rewards = reward_model.rewards_after_training_on(labeled, winners)  # (pairs, 2)
                flat = rewards.ravel()
                curve.append(float(np.mean(flat[chosen[test]] > flat[rejected[test]])))
                if name == "random" and budget >= args.al_budget:
                    break
                if name == "random":  # the pool is shuffled: its arrival order is a random order
                    served = pool
                else:  # the reward model of this round scores every pair, the platform orders the slots
                    served, previous = queue.order(rank_order, rewards, previous), rewards
                picked = [i for i in served if i in unlabeled][:args.al_step]
                labeled += picked
                unlabeled.difference_update(picked)
            curves[name].append(curve)
    mean = {name: np.mean(curve, axis=0) for name, curve in curves.items()}
    target = float(mean["random"][budgets.index(args.al_budget)])
    # How far apart two orders' mean accuracies must be before they differ beyond the splits' noise; and
    # what the whole pool reaches, which says whether the target lies on a plateau (where any crossing is
    # mostly noise).
    target_standard_error = float(np.std([curve[budgets.index(args.al_budget)] for curve in curves["random"]],
                                         ddof=1) / np.sqrt(args.al_repetitions))
    whole_pool = {name: round(float(mean[name][-1]), 4) for name in ("uncertainty", "disagreement")}

    def first_reaching(curve):
        return next((budget for budget, accuracy in zip(budgets, curve) if accuracy >= target), None)

    needed = {name: first_reaching(mean[name]) for name in orders}
    log(f"mean test accuracy over {args.al_repetitions} repetitions ({args.al_test} test pairs), by labels: "
        + "; ".join(f"{name}: " + " ".join(f"{b}:{a:.3f}" for b, a in zip(budgets, mean[name])) for name in orders))
    log(f"random order reaches {target:.3f} with {args.al_budget} labels; " + "; ".join(
        f"{name} order " + (f"with {needed[name]}" if needed[name] else f"never does, up to the whole pool")
        for name in ("uncertainty", "disagreement")) + f" ({time.perf_counter() - started:.0f} s in all)")

    def ratio(name):
        return round(needed[name] / args.al_budget, 3) if needed[name] else None

    return {
        "labels_to_target_ratio": ratio("uncertainty"),
        "labels_to_target_ratio_disagreement": ratio("disagreement"),
        "active_learning": {
            "reward_model": reward_model.description,
            "target_accuracy": round(target, 4), "target_standard_error": round(target_standard_error, 4),
            "accuracy_with_the_whole_pool": whole_pool, "budget": args.al_budget, "step": args.al_step,
            "labels_needed": {name: needed[name] for name in ("uncertainty", "disagreement")},
            # How noisy a first crossing is: random order's own curve may touch the target before the budget.
            "random_order_first_reaches_it_at": needed["random"],
            "test_pairs": args.al_test, "repetitions": args.al_repetitions,
            "curves": {name: {b: round(float(a), 4) for b, a in zip(budgets, mean[name])} for name in orders},
        },
    }


def true_order():
    return sorted(TRUE_STRENGTHS, key=lambda model: -TRUE_STRENGTHS[model])


def coverage(candidate_sets, simulations, rounds, rng):
    """Re-run the labelers `simulations` times on the stored candidate sets (one set per ranking slot);
    the share of 95% intervals (one per model per simulation) that hold the centred true strength."""
    from rankdata.model_comparison import Rated, battles, leaderboard

    mean = np.mean(list(TRUE_STRENGTHS.values()))
    held = total = all_held = 0
    for simulation in range(simulations):
        rankings = [[Rated(model, tier) for model, tier in
                     zip(models, plackett_luce_tiers([TRUE_STRENGTHS[m] for m in models], rng))]
                    for models in candidate_sets]
        board = leaderboard(battles(rankings), rounds=rounds, seed=simulation)["models"]
        hits = [row["ci"][0] <= TRUE_STRENGTHS[row["model"]] - mean <= row["ci"][1] for row in board]
        held, total, all_held = held + sum(hits), total + len(hits), all_held + all(hits)
    return held / total, all_held / simulations


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=80)
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--labelers", type=int, default=4)
    parser.add_argument("--simulations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap rounds per interval")
    parser.add_argument("--families", type=int, default=40, help="distinct prompts sent to the intake")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--al-budget", type=int, default=600, help="labels random order gets (the target's)")
    parser.add_argument("--al-step", type=int, default=40, help="labels per active-learning round (and the "
                        "random seed set both orders start from)")
    parser.add_argument("--al-test", type=int, default=500, help="held-out HH pairs the accuracy is measured on")
    parser.add_argument("--al-repetitions", type=int, default=10, help="random splits the curves are averaged over")
    parser.add_argument("--al-max-length", type=int, default=128, help="tokens per prompt+response (the prompt "
                        "is cut from the left, as the trainer cuts it)")
    parser.add_argument("--al-weight-decay", type=float, default=0.01, help="the frozen model's head's L2 penalty")
    parser.add_argument("--al-reward-model", choices=sorted(REWARD_MODELS), default="frozen",
                        help="frozen: the backbone's features once and a linear head a round (minutes on a CPU); "
                        "fine-tuned: the platform's trainer fine-tunes the backbone every round (hours on a CPU, "
                        "for a GPU)")
    parser.add_argument("--al-epochs", type=float, default=2.0, help="the fine-tuned model's epochs a round")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="threads of the in-process tiny generators; 0 leaves torch's default (one per "
                        "core). With more than one, torch's threads spin on after each call and, on a small "
                        "shared machine, take the CPU from PostgreSQL during the next request's queries: the "
                        "generator's cost, which would count as the endpoint's overhead")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(args.seed)
    import tempfile

    fresh_database(DB_NAME)
    django.setup()
    from labeling.model_comparison import project_comparison, project_rankings

    with tempfile.TemporaryDirectory() as folder:
        project = make_project(str(tiny_llama(Path(folder) / "tiny-llama")), args.prompts, args.overlap)
        rankings = label_through_the_api(project, args.labelers, rng)
        intake_duplicates, intake_overhead, intake_parts = intake(project, args.families, rng)
        hosted_overhead, hosted_parts = intake_before_a_hosted_model(args.families, rng)
    started = time.perf_counter()
    report = project_comparison(project, rounds=args.rounds)
    board = [row["model"] for row in report["leaderboard"]]
    log(f"leaderboard from {rankings} rankings in {time.perf_counter() - started:.2f} s: " + ", ".join(
        f"{row['model']} {row['strength']:+.2f} [{row['ci'][0]:+.2f}, {row['ci'][1]:+.2f}]"
        for row in report["leaderboard"]) + f" (true: {TRUE_STRENGTHS})")
    started = time.perf_counter()
    candidate_sets = [[c.model for c in ranking] for ranking in project_rankings(project)]
    per_interval, all_three = coverage(candidate_sets, args.simulations, args.rounds, rng)
    log(f"{args.simulations} repeated simulations on the same {len(candidate_sets)} candidate sets in "
        f"{time.perf_counter() - started:.1f} s: {per_interval:.3f} of intervals hold the true strength, "
        f"all three at once in {all_three:.3f} of simulations")
    learning = active_learning(args)
    print(json.dumps({
        "order_correct": int(board == true_order()),
        "ci_coverage": round(per_interval, 3),
        "ci_coverage_all_models": round(all_three, 3),
        "intake_duplicates": intake_duplicates,
        "intake_p95_ms_overhead": round(intake_overhead, 1),
        "intake_p50_ms_parts": intake_parts,
        "intake_hosted_p95_ms_overhead": round(hosted_overhead, 1),
        "intake_hosted_p50_ms_parts": hosted_parts,
        "torch_threads": args.torch_threads,
        **learning,
        "rankings": rankings,
        "true_strengths": TRUE_STRENGTHS,
        "leaderboard": {row["model"]: [round(row["strength"], 3), [round(x, 3) for x in row["ci"]]]
                        for row in report["leaderboard"]},
        "simulations": args.simulations,
        "bootstrap_rounds": args.rounds,
    }))


if __name__ == "__main__":
    main()
